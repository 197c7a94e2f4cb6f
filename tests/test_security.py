"""Bearer-token auth, TLS, and bounds on what one untrusted record may carry."""

from __future__ import annotations

import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse

from support import attr, logs_request, scrape, total, wait_for
from test_transport import _emit_logs

TOKEN = "s3cret-token"


def test_bearer_token_guards_ingest_and_session_level_endpoints(service_factory):
    bg, _ = service_factory(server__auth_token=TOKEN)
    url = bg.url("otlp_http") + "/v1/logs"
    r = requests.post(url, json={})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer" and "bearer token" in r.json()["message"]
    assert requests.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert requests.post(url, json={}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert requests.options(url).status_code == 204  # CORS preflights carry no credentials
    assert requests.get(bg.url("metrics") + "/api/errors").status_code == 401
    assert requests.get(bg.url("metrics") + "/api/errors", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert requests.get(bg.url("metrics") + "/metrics").status_code == 200  # aggregates stay scrapeable by default
    channel = grpc.insecure_channel(bg.service.addresses["otlp_grpc"])
    call = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                               request_serializer=lambda m: m.SerializeToString(), response_deserializer=ExportLogsServiceResponse.FromString)
    with pytest.raises(grpc.RpcError) as info:
        call(ExportLogsServiceRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    call(ExportLogsServiceRequest(), timeout=10, metadata=(("authorization", f"Bearer {TOKEN}"),))
    # The official exporters send it as a header.
    _emit_logs(OTLPLogExporter(endpoint=url, headers={"Authorization": f"Bearer {TOKEN}"}))
    wait_for(lambda: total(scrape(bg.url("metrics") + "/metrics"), "rum_clicks_total") == 1, what="the authorised click")
    assert total(scrape(bg.url("metrics") + "/metrics"), "otel_friction_requests_rejected_total", reason="unauthenticated") == 3


def test_protect_metrics(service_factory):
    bg, _ = service_factory(server__auth_token=TOKEN, server__protect_metrics=True)
    assert requests.get(bg.url("metrics") + "/metrics").status_code == 401
    assert requests.get(bg.url("metrics") + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert requests.get(bg.url("metrics") + "/healthz").status_code == 200


@pytest.fixture
def tls_pair(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_on_http_grpc_and_metrics(service_factory, tls_pair, monkeypatch):
    cert, key = tls_pair
    # requests lets REQUESTS_CA_BUNDLE (set on this machine) override a session's CA file, so trust goes through it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    bg, _ = service_factory(server__tls_cert_file=str(cert), server__tls_key_file=str(key))
    http_url = "https://" + bg.service.addresses["otlp_http"] + "/v1/logs"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post("http://" + bg.service.addresses["otlp_http"] + "/v1/logs", json={}, timeout=5)
    _emit_logs(OTLPLogExporter(endpoint=http_url, certificate_file=str(cert)))
    _emit_logs(GrpcLogExporter(endpoint=bg.service.addresses["otlp_grpc"], insecure=False,
                               credentials=grpc.ssl_channel_credentials(cert.read_bytes())), session_id="tls-grpc")
    metrics = "https://" + bg.service.addresses["metrics"] + "/metrics"

    def clicks():
        text = requests.get(metrics, verify=str(cert), timeout=5).text
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("rum_clicks_total{"))
    wait_for(lambda: clicks() == 2, what="clicks over HTTPS and gRPC+TLS")


def test_attribute_limits(service_factory):
    bg, memory = service_factory(server__max_attributes_per_record=20, server__max_attribute_length=100)
    t = time.time_ns()
    crowded = {f"a{i}": "x" for i in range(30)}
    req = logs_request([
        ("browser.user_action.click", t, {"session.id": "lim", "url.full": "https://s.example/", "browser.css_selector": "#" + "y" * 10_000}),
        ("browser.user_action.click", t + 1, {"session.id": "lim", **crowded}),
    ])
    kv = req.resource_logs[0].scope_logs[0].log_records[0].attributes.add(key="browser.element.attributes")
    node = kv.value
    for _ in range(25):  # a kvlist nested 25 deep: decodable, read only to a bounded depth
        node = node.kvlist_value.values.add(key="k").value
    too_deep = logs_request([("browser.page_view", t, {"session.id": "deep", "url.full": "https://s.example/"})])
    node = too_deep.resource_logs[0].scope_logs[0].log_records[0].attributes.add(key="session.attributes").value
    for _ in range(200):  # beyond upb's recursion limit, under a key that is read: read to a bounded depth only
        node = node.kvlist_value.values.add(key="k").value
    r = requests.post(bg.url("otlp_http") + "/v1/logs", data=too_deep.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and ExportLogsServiceResponse.FromString(r.content).partial_success.rejected_log_records == 0
    r = requests.post(bg.url("otlp_http") + "/v1/logs", data=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert r.status_code == 200 and resp.partial_success.rejected_log_records == 1
    assert "31 attributes, the limit is 20" in resp.partial_success.error_message
    click = wait_for(lambda: [s for _, s in memory.spans() if s.name == "click"], what="the kept click")[0]
    assert len(attr(click, "browser.css_selector")) == 100
