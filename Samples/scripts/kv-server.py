"""A tiny HTTP key-value service for Samples/service-step.yaml: GET /ready answers 200 once it
listens; PUT /KEY stores the body; GET /KEY returns it."""
import http.server
import os

store = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        value = b"ok" if self.path == "/ready" else store.get(self.path)
        self.send_response(200 if value is not None else 404)
        self.end_headers()
        self.wfile.write(value or b"")

    def do_PUT(self):
        store[self.path] = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
