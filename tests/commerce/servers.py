"""Local HTTP servers speaking the Stripe API and Shopify's Admin GraphQL, for the real client libraries.

Each response goes out in one write with TCP_NODELAY (Nagle + delayed ACK otherwise stall keep-alive requests).
"""

import itertools
import json
import re
import socket
import threading
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # keep test output clean
        pass

    def _respond(self, status: int, body: dict):
        data = json.dumps(body).encode()
        head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Request-Id: req_local\r\n\r\n").encode()
        self.wfile.write(head + data)
        self.wfile.flush()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        body = self._body()
        status, payload = self.server.app.handle(method, self.path, dict(self.headers), body)
        self._respond(status, payload)


class _Server:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.fail_next: list[tuple[int, dict]] = []
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, method, path, headers, body):
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
            if self.fail_next:
                return self.fail_next.pop(0)
            return self.route(method, path, headers, body)


def _nested(pairs) -> dict:
    """Stripe's form encoding (a[b][0][c]=x) back to nested dicts (lists stay dicts keyed by index)."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


class FakeStripe(_Server):
    """Checkout sessions (with a promotion code applied), coupons, promotion codes, refunds (with
    Idempotency-Key replay), the events list and the balance (a connection's check)."""

    def __init__(self):
        self.seq = itertools.count(1)
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.sessions: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.events: list[dict] = []
        self.coupons: dict[str, dict] = {}
        self.promotion_codes: dict[str, dict] = {}
        super().__init__()

    def route(self, method, path, headers, body):
        if not headers.get("Authorization", "").startswith("Bearer sk_"):
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        key = headers.get("Idempotency-Key")
        if method == "POST" and key in self.idempotent:
            return self.idempotent[key]
        params = _nested(parse_qsl(body.decode(), keep_blank_values=True))
        url = urlparse(path)
        result = (404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {path}"}})
        if method == "POST" and url.path == "/v1/checkout/sessions":
            n = next(self.seq)
            session_id = f"cs_test_{n:06d}"
            line = params["line_items"]["0"]
            subtotal = int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
            discount_amount, discounts = 0, []
            promo_id = ((params.get("discounts") or {}).get("0") or {}).get("promotion_code")
            if promo_id:
                promo = self.promotion_codes.get(promo_id)
                if promo is None or not promo["active"]:
                    return 400, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                           "message": f"No such promotion code: '{promo_id}'"}}
                coupon = promo["promotion"]["coupon"]
                if coupon.get("percent_off") is not None:
                    discount_amount = int((Decimal(str(coupon["percent_off"])) * subtotal / 100)
                                          .quantize(Decimal("1"), rounding=ROUND_HALF_UP))
                else:
                    discount_amount = min(subtotal, int(coupon["amount_off"]))
                discounts = [{"coupon": coupon["id"], "promotion_code": promo_id}]
            amount = subtotal - discount_amount
            session = {
                "id": session_id, "object": "checkout.session", "mode": params.get("mode", "payment"),
                "amount_subtotal": subtotal, "amount_total": amount, "discounts": discounts,
                "total_details": {"amount_discount": discount_amount, "amount_shipping": 0, "amount_tax": 0},
                "currency": line["price_data"]["currency"],
                "metadata": params.get("metadata", {}), "payment_intent": None, "payment_status": "unpaid",
                "status": "open", "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
                "customer_email": params.get("customer_email"),
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            }
            self.sessions[session_id] = {**session, "params": params}
            result = (200, session)
        elif method == "POST" and url.path == "/v1/refunds":
            n = next(self.seq)
            refund = {"id": f"re_test_{n:06d}", "object": "refund", "amount": int(params["amount"]),
                      "payment_intent": params.get("payment_intent"), "status": "succeeded",
                      "metadata": params.get("metadata", {}), "currency": "usd"}
            self.refunds.append(refund)
            result = (200, refund)
        elif method == "POST" and url.path == "/v1/coupons":
            n = next(self.seq)
            if not params.get("percent_off") and not params.get("amount_off"):
                return 400, {"error": {"type": "invalid_request_error",
                                       "message": "You must pass either percent_off or amount_off."}}
            coupon = {"id": f"coupon_{n:06d}", "object": "coupon", "name": params.get("name"),
                      "duration": params.get("duration"), "percent_off": float(params["percent_off"])
                      if params.get("percent_off") else None,
                      "amount_off": int(params["amount_off"]) if params.get("amount_off") else None,
                      "currency": params.get("currency"), "max_redemptions": params.get("max_redemptions"),
                      "redeem_by": params.get("redeem_by"), "metadata": params.get("metadata", {}), "valid": True}
            self.coupons[coupon["id"]] = coupon
            result = (200, coupon)
        elif method == "POST" and url.path == "/v1/promotion_codes":
            coupon = self.coupons.get((params.get("promotion") or {}).get("coupon", ""))
            if coupon is None:
                return 400, {"error": {"type": "invalid_request_error", "message": "No such coupon"}}
            if params.get("code") and any(p["code"] == params["code"] and p["active"]
                                          for p in self.promotion_codes.values()):
                return 400, {"error": {"type": "invalid_request_error", "code": "resource_already_exists",
                                       "message": "An active promotion code with that code already exists."}}
            n = next(self.seq)
            promo = {"id": f"promo_{n:06d}", "object": "promotion_code", "code": params.get("code") or f"P{n:06d}",
                     "active": True, "promotion": {"type": "coupon", "coupon": coupon},
                     "max_redemptions": params.get("max_redemptions"), "expires_at": params.get("expires_at"),
                     "metadata": params.get("metadata", {}), "times_redeemed": 0}
            self.promotion_codes[promo["id"]] = promo
            result = (200, promo)
        elif method == "GET" and url.path == "/v1/balance":
            result = (200, {"object": "balance", "livemode": False, "available": [{"amount": 0, "currency": "usd"}],
                            "pending": []})
        elif method == "GET" and url.path == "/v1/events":
            result = (200, {"object": "list", "url": "/v1/events", "has_more": False, "data": self.events})
        if method == "POST" and key:
            self.idempotent[key] = result
        return result


class FakeShopify(_Server):
    """Admin GraphQL: products(query: handle:), product(id:), productCreate/Update, variant prices, orders,
    code discounts (discountCodeBasicCreate, codeDiscountNodeByCode)."""

    def __init__(self, token: str):
        self.token = token
        self.products: dict[str, dict] = {}
        self.orders: list[dict] = []
        self.discounts: dict[str, dict] = {}
        self.seq = itertools.count(1000)
        super().__init__()

    def route(self, method, path, headers, body):
        if not re.fullmatch(r"/admin/api/[\w-]+/graphql\.json", urlparse(path).path):
            return 404, {"errors": "Not Found"}
        if headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        request = json.loads(body)
        query, variables = request["query"], request.get("variables") or {}
        if "shop { name }" in query:
            return 200, {"data": {"shop": {"name": "Local Test Shop"}}}
        if "codeDiscountNodeByCode(" in query:
            found = next((d for d in self.discounts.values() if d["code"] == variables["code"]), None)
            return 200, {"data": {"codeDiscountNodeByCode": {"id": found["id"]} if found else None}}
        if "discountCodeBasicCreate(" in query:
            data = variables["basicCodeDiscount"]
            if any(d["code"] == data.get("code") for d in self.discounts.values()):
                return 200, {"data": {"discountCodeBasicCreate": {"codeDiscountNode": None, "userErrors": [
                    {"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique."}]}}}
            gid = f"gid://shopify/DiscountCodeNode/{next(self.seq)}"
            self.discounts[gid] = {"id": gid, **data}
            return 200, {"data": {"discountCodeBasicCreate": {"codeDiscountNode": {"id": gid}, "userErrors": []}}}
        if "productCreate(" in query:
            return 200, {"data": {"productCreate": self._create(variables["product"])}}
        if "productUpdate(" in query:
            return 200, {"data": {"productUpdate": self._update(variables["product"])}}
        if "productVariantsBulkUpdate(" in query:
            product = self.products[variables["productId"]]
            product["variants"]["nodes"][0]["price"] = variables["variants"][0]["price"]
            return 200, {"data": {"productVariantsBulkUpdate": {
                "productVariants": product["variants"]["nodes"], "userErrors": []}}}
        if "products(" in query:
            handle = variables["q"].removeprefix("handle:")
            nodes = [p for p in self.products.values() if p["handle"] == handle][:1]
            return 200, {"data": {"products": {"nodes": nodes}}}
        if "product(" in query:
            return 200, {"data": {"product": self.products.get(variables["id"])}}
        if "orders(" in query:
            return 200, {"data": {"orders": {"nodes": self.orders,
                                             "pageInfo": {"hasNextPage": False, "endCursor": None}}}}
        return 200, {"errors": [{"message": "unsupported operation in the local server"}]}

    def _create(self, data):
        if not data.get("title"):
            return {"product": None, "userErrors": [{"field": ["title"], "message": "Title can't be blank"}]}
        n = next(self.seq)
        gid = f"gid://shopify/Product/{n}"
        self.products[gid] = {
            "id": gid, "title": data["title"], "handle": data.get("handle") or f"product-{n}",
            "status": data.get("status", "ACTIVE"), "descriptionHtml": data.get("descriptionHtml", ""),
            "tags": data.get("tags", []), "onlineStoreUrl": None,
            "variants": {"nodes": [{"id": f"gid://shopify/ProductVariant/{n}", "price": "0.00"}]},
        }
        return {"product": self.products[gid], "userErrors": []}

    def _update(self, data):
        product = self.products.get(data["id"])
        if product is None:
            return {"product": None, "userErrors": [{"field": ["id"], "message": "Product does not exist"}]}
        product.update({k: v for k, v in data.items() if k != "id"})
        return {"product": product, "userErrors": []}
