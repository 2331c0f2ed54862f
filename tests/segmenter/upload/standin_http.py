"""The HTTP side of the EcoTaxa stand-in (ecotaxa_standin.py says what it copies): routes
under /api, the bearer token, multipart parsing, and the faults it can play."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
import zipfile
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn


class StandInHandler(BaseHTTPRequestHandler):
    standin: EcoTaxaStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorised(self) -> bool:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.standin.tokens:
            return True
        self._send(401, {"detail": "Not authenticated"})
        return False

    def do_GET(self) -> None:
        s = self.standin
        url = urlsplit(self.path)
        s.requests.append(f"GET {url.path}")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if not self._authorised():
            return
        if m := re.fullmatch(r"/api/jobs/(\d+)/", url.path):
            if int(m[1]) not in s.jobs:
                return self._send(404, {"detail": "Job not found"})
            return self._send(200, s.job_json(int(m[1])))
        if url.path == "/api/acquisitions/search":
            return self._send(200, s.acquisitions(int(query["project_id"])))
        if url.path == "/api/samples/search":
            return self._send(200, s.samples(query["project_ids"], query["id_pattern"]))
        self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        s = self.standin
        url = urlsplit(self.path)
        s.requests.append(f"POST {url.path}")
        if s.errors_500 > 0 and url.path != "/api/login":
            s.errors_500 -= 1
            self._body()
            return self._send(500, {"detail": "Internal Server Error"})
        if url.path == "/api/user_files/" and s.cut_uploads > 0:
            s.cut_uploads -= 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0) // 2)
            self.close_connection = True
            s.away_for(s.cut_for)
            self.connection.shutdown(2)
            return
        body = self._body()
        if url.path == "/api/login":
            creds = json.loads(body)
            if (creds.get("username"), creds.get("password")) != (s.user, s.password):
                return self._send(403, {"detail": "Login failed"})
            token = secrets.token_urlsafe(16)
            s.tokens.add(token)
            return self._send(200, token)
        if not self._authorised():
            return
        if url.path == "/api/user_files/":
            return self._user_file(body)
        if m := re.fullmatch(r"/api/file_import/(\d+)", url.path):
            if int(m[1]) not in s.projects:
                return self._send(404, {"detail": "Project not found"})
            try:
                answer = s.start_import(int(m[1]), json.loads(body))
            except FileNotFoundError as exc:
                return self._send(422, {"detail": f"source_path {exc} not found"})
            if s.lose_import_answers > 0:
                s.lose_import_answers -= 1
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            return self._send(200, answer)
        if m := re.fullmatch(r"/api/object_set/(\d+)/summary", url.path):
            if not body:
                return self._send(422, {"detail": "filters body required"})
            wanted = str(json.loads(body).get("samples") or "")
            with s.lock:
                proj = s.projects[int(m[1])]
                keep = {o for o, n in proj.samples.items() if str(n) in wanted.split(",")}
                total = sum(1 for o in proj.objects.values() if not wanted or o in keep)
            return self._send(200, {"total_objects": total})
        self._send(404, {"detail": "Not Found"})

    def _user_file(self, body: bytes) -> None:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            fields[str(name)] = (part.get_filename(), data)
        if "file" not in fields:
            return self._send(422, {"detail": "file is required"})
        filename, data = fields["file"]
        path = fields.get("path", (None, (filename or "").encode()))[1].decode()
        if not filename or not path.endswith(filename):
            return self._send(422, {"detail": "path must end with the file's name"})
        try:
            self._send(200, self.standin.store(path, data))
        except (ValueError, zipfile.BadZipFile) as exc:
            self._send(422, {"detail": str(exc)})
