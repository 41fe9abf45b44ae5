from django.http import Http404
from django.shortcuts import render
from django.views import View

from autonomax.tenancy import CompanyViewMixin

from .selectors import customer_for_company, customer_story


class CustomerStoryView(CompanyViewMixin, View):
    def get(self, request, pk: int):
        customer = customer_for_company(company=self.company, pk=pk)
        if customer is None:
            raise Http404("No such customer in this company.")
        return render(request, "customers/story.html", customer_story(customer=customer))
