from django.urls import path

from . import views
from .dashboard import InboxView, KnowledgeView, TicketView

app_name = "support"

urlpatterns = [
    path("f/<slug:slug>/contact/", views.contact, name="contact"),
    path("support/", InboxView.as_view(), name="inbox"),
    path("support/tickets/<int:pk>/", TicketView.as_view(), name="ticket"),
    path("support/kb/", KnowledgeView.as_view(), name="knowledge"),
    path("support/csat/<str:token>/", views.csat, name="csat"),
]
