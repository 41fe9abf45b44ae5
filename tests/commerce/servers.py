"""Local HTTP servers speaking the Stripe API and Shopify's Admin GraphQL, for the real client libraries.

Each response goes out in one write with TCP_NODELAY (Nagle + delayed ACK otherwise stall keep-alive requests).
"""

import itertools
import json
import re
import socket
import threading
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
    """Checkout sessions, refunds (with Idempotency-Key replay) and the events list."""

    def __init__(self):
        self.seq = itertools.count(1)
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.sessions: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.events: list[dict] = []
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
            amount = int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
            session = {
                "id": session_id, "object": "checkout.session", "mode": params.get("mode", "payment"),
                "amount_total": amount, "currency": line["price_data"]["currency"],
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
        elif method == "GET" and url.path == "/v1/events":
            result = (200, {"object": "list", "url": "/v1/events", "has_more": False, "data": self.events})
        if method == "POST" and key:
            self.idempotent[key] = result
        return result


class FakeShopify(_Server):
    """Admin GraphQL: products(query: handle:), product(id:), productCreate/Update, variant prices, orders."""

    def __init__(self, token: str):
        self.token = token
        self.products: dict[str, dict] = {}
        self.orders: list[dict] = []
        self.seq = itertools.count(1000)
        super().__init__()

    def route(self, method, path, headers, body):
        if not re.fullmatch(r"/admin/api/[\w-]+/graphql\.json", urlparse(path).path):
            return 404, {"errors": "Not Found"}
        if headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        request = json.loads(body)
        query, variables = request["query"], request.get("variables") or {}
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
