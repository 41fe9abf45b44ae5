"""Public funnel pages: thin views over the commerce services and selectors."""

import logging

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from autonomax.errors import AppError

from .selectors import order_by_access_token, order_grants, product_for_landing
from .services.checkout import checkout_start
from .services.consent import CHECKOUT_WORDING
from .services.fulfillment import download_consume, download_url, support_address

logger = logging.getLogger(__name__)
CHECKOUT_CLOSED = "Checkout is not open for this shop yet. Nothing was charged; please come back later."


def landing(request: HttpRequest, slug: str) -> HttpResponse:
    product = product_for_landing(slug=slug)
    if product is None:
        raise Http404("No such product.")
    return render(request, "commerce/landing.html", {"product": product, "consent_wording": CHECKOUT_WORDING,
                                                      "canonical": request.build_absolute_uri(),
                                                      "image_url": _image_url(request, product)})


def _image_url(request: HttpRequest, product) -> str:
    return request.build_absolute_uri(reverse("commerce:landing-image", args=[product.slug])) if product.image else ""


def landing_image(request: HttpRequest, slug: str) -> HttpResponse:
    """The product's picture, public like its landing page (media is not served by the app in production)."""
    product = product_for_landing(slug=slug)
    if product is None or not product.image:
        raise Http404("No image for this product.")
    try:
        image = product.image.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The image file is missing.") from exc
    response = FileResponse(image)
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_http_methods(["GET", "POST"])
def buy(request: HttpRequest, slug: str) -> HttpResponse:
    product = product_for_landing(slug=slug)
    if product is None:
        raise Http404("No such product.")
    if request.method == "GET":  # a reload or a shared link of the buy URL: back to the product page
        return redirect("commerce:landing", slug=product.slug)
    email = (request.POST.get("email") or "").strip()[:254]
    code = (request.POST.get("discount_code") or "").strip()[:40]
    try:
        _order, url = checkout_start(product=product, customer_email=email, discount_code=code,
                                     marketing_consent=request.POST.get("marketing_consent") == "1")
    except AppError as exc:
        message = exc.message
        if exc.code == "stripe_not_configured":
            # The fix (an environment variable) is for the operator, not the shopper.
            logger.error("checkout for %s refused: %s", product.slug, exc.message)
            message = CHECKOUT_CLOSED
        return render(request, "commerce/landing.html", {"product": product, "error": message, "form_email": email,
                                                          "form_code": code, "consent_wording": CHECKOUT_WORDING,
                                                          "image_url": _image_url(request, product)},
                      status=exc.status)
    return redirect(url, permanent=False)


def checkout_success(request: HttpRequest) -> HttpResponse:
    order = order_by_access_token(token=request.GET.get("order", ""))
    return render(request, "commerce/checkout_success.html", {"order": order})


def checkout_cancel(request: HttpRequest) -> HttpResponse:
    order = order_by_access_token(token=request.GET.get("order", ""))
    product = None
    if order is not None:
        item = order.items.all()[0] if order.items.all() else None
        product = item.product if item else None
    return render(request, "commerce/checkout_cancel.html", {"order": order, "product": product})


def order_status(request: HttpRequest, token: str) -> HttpResponse:
    order = order_by_access_token(token=token)
    if order is None:
        raise Http404("No such order.")
    grants = [{"grant": g, "url": download_url(grant=g)} for g in order_grants(order=order)]
    response = render(request, "commerce/order_status.html", {
        "order": order, "grants": grants, "support_email": support_address(order.company), "now": timezone.now()})
    response["X-Robots-Tag"] = "noindex"
    return response


def download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        grant = download_consume(token=token)
    except AppError as exc:  # DownloadUnavailable (expired, revoked, used up) and a bad token alike
        return render(request, "commerce/download_unavailable.html", {"message": exc.message, "code": exc.code},
                      status=exc.status)
    asset = grant.product.asset
    name = asset.name.rsplit("/", 1)[-1]
    return FileResponse(asset.open("rb"), as_attachment=True, filename=name)
