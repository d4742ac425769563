"""OtlpTransport reads the standard OTEL_* settings; they reach receivers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
)

from aievents.transports.otlp import DEFAULT_ENDPOINT, OtlpTransport
from otlp_receiver import OtlpCollector, attributes, clear_otel_environment, metrics_of

from helpers import completed_event, usage_event

SECRET = "sk-live-SECRET0123456789"


@pytest.fixture(name="env")
def _env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without OTEL_* variables; set what the test needs."""
    clear_otel_environment(monkeypatch)
    return monkeypatch


@pytest.fixture(name="otlp")
def _otlp() -> Iterator[OtlpCollector]:
    with OtlpCollector() as collector:
        yield collector


@pytest.fixture(name="other")
def _other() -> Iterator[OtlpCollector]:
    """A second receiver, for what goes elsewhere."""
    with OtlpCollector() as collector:
        yield collector


def batch() -> list[Any]:
    return [completed_event("r1", duration=900.0), usage_event("r1", images=1)]


def send(transport: OtlpTransport) -> None:
    transport.send(batch())
    transport.close()


def made(**arguments: Any) -> OtlpTransport:
    """A transport, closed at once (for its settings)."""
    transport = OtlpTransport(**arguments)
    transport.close()
    return transport


def paths(receiver: OtlpCollector) -> list[str]:
    return [path for path, _, _ in receiver.requests]


def headers_at(receiver: OtlpCollector, path: str) -> dict[str, str]:
    (found,) = [headers for at, headers, _ in receiver.requests if at == path]
    return found


class TestEndpoint:
    """OTEL_EXPORTER_OTLP_ENDPOINT is a base, the per-signal ones full URLs; the argument wins."""

    def test_default(self, env: pytest.MonkeyPatch) -> None:
        """Nothing set: the collector on this host, port 4318 (an empty variable is unset)."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        transport = made()
        assert DEFAULT_ENDPOINT == "http://127.0.0.1:4318"
        assert transport.logs_url == "http://127.0.0.1:4318/v1/logs"
        assert transport.metrics_url == "http://127.0.0.1:4318/v1/metrics"

    def test_base(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """The base URL, with a path and a trailing slash: /v1/logs and /v1/metrics appended."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"{otlp.endpoint}/otlp/")
        send(OtlpTransport())
        assert paths(otlp) == ["/otlp/v1/logs", "/otlp/v1/metrics"]
        assert len(otlp.records()) == 2

    def test_per_signal(
        self, env: pytest.MonkeyPatch, otlp: OtlpCollector, other: OtlpCollector
    ) -> None:
        """Each signal's own URL, as it is, wins over the base."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"{other.endpoint}/unused")
        env.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{otlp.endpoint}/ingest/logs")
        env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{other.endpoint}/v1/metrics")
        send(OtlpTransport())
        assert paths(otlp) == ["/ingest/logs"]
        assert paths(other) == ["/v1/metrics"]
        assert len(other.metrics) == 1

    def test_one_signal(
        self, env: pytest.MonkeyPatch, otlp: OtlpCollector, other: OtlpCollector
    ) -> None:
        """One signal's URL set: the other signal goes to the base."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{other.endpoint}/m")
        send(OtlpTransport())
        assert paths(otlp) == ["/v1/logs"]
        assert paths(other) == ["/m"]

    def test_argument_wins(
        self, env: pytest.MonkeyPatch, otlp: OtlpCollector, other: OtlpCollector
    ) -> None:
        """An endpoint given: no variable applies."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", other.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{other.endpoint}/v1/logs")
        send(OtlpTransport(otlp.endpoint))
        assert paths(otlp) == ["/v1/logs", "/v1/metrics"]
        assert paths(other) == []


class TestHeaders:
    """OTEL_EXPORTER_OTLP_HEADERS and the per-signal lists reach the receiver, percent-decoded."""

    def test_common(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """key=value pairs, spaces trimmed, values percent-decoded, on both exports."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"api-key={SECRET}%3D%2C1, x-tenant = acme%20eu ,")
        send(OtlpTransport())
        for path in ("/v1/logs", "/v1/metrics"):
            headers = headers_at(otlp, path)
            assert headers["api-key"] == f"{SECRET}=,1"
            assert headers["x-tenant"] == "acme eu"
            assert headers["content-type"] == "application/x-protobuf"

    def test_per_signal(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """A signal's own list replaces the common one for that signal."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-common=1")
        env.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-metrics=2")
        send(OtlpTransport())
        logs, metrics = headers_at(otlp, "/v1/logs"), headers_at(otlp, "/v1/metrics")
        assert logs["x-common"] == "1"
        assert "x-metrics" not in logs
        assert metrics["x-metrics"] == "2"
        assert "x-common" not in metrics

    def test_names_lowercase(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """Names in lowercase, as the SDK reads them; ours is the one content-type sent."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Content-Type=text/plain,X-Tenant=acme")
        send(OtlpTransport())
        send(OtlpTransport(otlp.endpoint, headers={"Content-Type": "text/plain", "X-Key": "k"}))
        for _, headers, _ in otlp.requests:
            assert headers["content-type"] == "application/x-protobuf"
        assert len(otlp.logs) == len(otlp.metrics) == 2  # each decoded as protobuf

    def test_argument_wins(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """Headers given: no header variable applies."""
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-common=1")
        env.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-logs=1")
        send(OtlpTransport(otlp.endpoint, headers={"x-given": "yes"}))
        for path in ("/v1/logs", "/v1/metrics"):
            headers = headers_at(otlp, path)
            assert headers["x-given"] == "yes"
            assert not {"x-common", "x-logs"} & set(headers)


class TestResource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES make the resource of both exports."""

    def resources(self, otlp: OtlpCollector) -> list[dict[str, Any]]:
        (logs,) = otlp.logs
        (metrics,) = otlp.metrics
        return [
            attributes(logs.resource_logs[0].resource.attributes),
            attributes(metrics.resource_metrics[0].resource.attributes),
        ]

    def test_both(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """The attributes percent-decoded; OTEL_SERVICE_NAME wins for service.name."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_SERVICE_NAME", "images-api")
        env.setenv(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-list,deployment.environment.name=prod%20eu,team=a%2Cb",
        )
        send(OtlpTransport())
        for resource in self.resources(otlp):
            assert resource["service.name"] == "images-api"
            assert resource["deployment.environment.name"] == "prod eu"
            assert resource["team"] == "a,b"
            assert resource["telemetry.sdk.name"] == "aievents"

    def test_service_name_from_list(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """Without OTEL_SERVICE_NAME, the list's service.name."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
        env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-list")
        send(OtlpTransport())
        assert [r["service.name"] for r in self.resources(otlp)] == ["from-list"] * 2

    def test_default(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """Neither: service.name is aievents."""
        send(OtlpTransport(otlp.endpoint))
        assert [r["service.name"] for r in self.resources(otlp)] == ["aievents"] * 2

    def test_arguments_win(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """Arguments given win for their keys; the variables' other attributes stay."""
        env.setenv("OTEL_SERVICE_NAME", "from-env")
        env.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=env,region=env")
        transport = OtlpTransport(
            otlp.endpoint, service_name="given", resource_attributes={"region": "eu"}
        )
        send(transport)
        for resource in self.resources(otlp):
            assert resource["service.name"] == "given"
            assert resource["region"] == "eu"
            assert resource["team"] == "env"

    def test_service_name_in_attributes(self, env: pytest.MonkeyPatch, otlp: OtlpCollector) -> None:
        """service.name in resource_attributes wins over OTEL_SERVICE_NAME; nothing dropped."""
        env.setenv("OTEL_SERVICE_NAME", "from-env")
        env.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=pod-1")
        attributes_given = {"service.name": "billing", "deployment.environment.name": "prod"}
        send(OtlpTransport(otlp.endpoint, resource_attributes=attributes_given))
        for resource in self.resources(otlp):
            assert resource["service.name"] == "billing"
            assert resource["k8s.pod.name"] == "pod-1"
            assert resource["deployment.environment.name"] == "prod"

    @pytest.mark.parametrize(
        ("variables", "given", "service_name"),
        [
            ({"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "a=1,service.name=list"},
             {"service.name": "billing", "b": "2"}, None),
            ({"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "a=1,b=env"},
             {"b": "given"}, "named"),
            ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=list,a=%20x%2C"}, {"a": "y"}, None),
            ({"OTEL_SERVICE_NAME": "env"}, None, None),
            ({"OTEL_RESOURCE_ATTRIBUTES": "a=1"}, {"service.name": "s"}, "named"),
        ],
    )  # fmt: skip
    def test_as_the_sdk(
        self,
        env: pytest.MonkeyPatch,
        otlp: OtlpCollector,
        variables: dict[str, str],
        given: dict[str, str] | None,
        service_name: str | None,
    ) -> None:
        """The resource is the one the SDK's Resource.create makes of the same settings."""
        from opentelemetry.sdk.resources import Resource

        for name, value in variables.items():
            env.setenv(name, value)
        explicit = dict(given or {})
        if service_name is not None:
            explicit["service.name"] = service_name
        expected = dict(Resource.create(explicit).attributes)
        send(OtlpTransport(otlp.endpoint, service_name=service_name, resource_attributes=given))
        for resource in self.resources(otlp):  # but the SDK's own and its random instance id
            assert mine(resource) == mine(expected)


def mine(resource: dict[str, Any]) -> dict[str, Any]:
    """The attributes that come from the settings (not telemetry.sdk.*, service.instance.id)."""
    return {
        key: value
        for key, value in resource.items()
        if not key.startswith("telemetry.sdk.") and key != "service.instance.id"
    }


class TestTimeoutAndTemporality:
    """OTEL_EXPORTER_OTLP_TIMEOUT (ms) and the temporality preference."""

    def test_timeout(self, env: pytest.MonkeyPatch) -> None:
        """Milliseconds, as seconds; the argument wins; 30 s by default."""
        env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        assert made().request_timeout == 2.5
        assert made(request_timeout=4.0).request_timeout == 4.0
        env.delenv("OTEL_EXPORTER_OTLP_TIMEOUT")
        assert made().request_timeout == 30.0

    @pytest.mark.parametrize(
        ("preference", "temporality", "sent"),
        [
            ("cumulative", "cumulative", AGGREGATION_TEMPORALITY_CUMULATIVE),
            ("Delta", "delta", AGGREGATION_TEMPORALITY_DELTA),
            ("lowmemory", "delta", AGGREGATION_TEMPORALITY_DELTA),
        ],
    )
    def test_preference(
        self,
        env: pytest.MonkeyPatch,
        otlp: OtlpCollector,
        preference: str,
        temporality: str,
        sent: int,
    ) -> None:
        """cumulative, or delta (delta and lowmemory: all sent are counters and histograms)."""
        env.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
        transport = OtlpTransport(otlp.endpoint)
        assert transport.temporality == temporality
        send(transport)
        (request,) = otlp.metrics
        for metric in metrics_of(request).values():
            kind = metric.WhichOneof("data")
            assert getattr(metric, kind).aggregation_temporality == sent

    def test_argument_wins(self, env: pytest.MonkeyPatch) -> None:
        """temporality given: the preference does not apply; delta by default."""
        env.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative")
        assert made(temporality="delta").temporality == "delta"
        env.delenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        assert made().temporality == "delta"


class TestMalformed:
    """A malformed value is a ValueError naming the variable; a header's value is never shown."""

    @pytest.mark.parametrize(
        ("name", "value", "said"),
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4318", "http:// or https:// URL"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "ftp://127.0.0.1/", "http:// or https:// URL"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http:///v1/metrics", "with a host"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:notaport/m", "invalid port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:99999", "invalid port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://u:{SECRET}@[::1", "IPv6"),
            ("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization: Basic {SECRET}==", "entry 1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", f"x-ok=1,Bearer{SECRET}: x=1", "entry 2"),
            ("OTEL_EXPORTER_OTLP_HEADERS", f"authorization Bearer {SECRET}", "entry 1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", f"x-ok=1,={SECRET}", "entry 2"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", f"x-key={SECRET}%0D%0AX-Evil: 1", "x-key"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", f"x key={SECRET}", "header name"),
            ("OTEL_EXPORTER_OTLP_HEADERS", f"x-key={SECRET}%C3%A9", "visible ASCII"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team", "entry 1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "'soon'"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", "positive"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes", "'sometimes'"),
        ],
    )
    def test_variable(self, env: pytest.MonkeyPatch, name: str, value: str, said: str) -> None:
        """The variable is named, what is wrong said; no secret in the message."""
        env.setenv(name, value)
        with pytest.raises(ValueError, match=name) as info:
            OtlpTransport()
        assert said in str(info.value)
        assert "SECRET" not in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__ or info.value.__context__ is None

    def test_header_name_shown_up_to_the_first_bad_character(self, env: pytest.MonkeyPatch) -> None:
        """A value typed where a name goes: the name's leading run only, the rest never."""
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-ok=1,Authorization: Basic dXNlcjpwYXNzd29yZA==")
        with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_HEADERS") as info:
            OtlpTransport()
        message = str(info.value)
        assert "entry 2: invalid header name" in message
        assert "'Authorization'" in message
        assert "Basic" not in message
        assert "dXNlcjpwYXNzd29yZA" not in message

    def test_endpoint_credentials(self, env: pytest.MonkeyPatch) -> None:
        """An endpoint is shown as transports show URLs: no credentials, no token in the path."""
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"grpc://svc:{SECRET}@collector/{SECRET}")
        with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_ENDPOINT") as info:
            OtlpTransport()
        assert "SECRET" not in str(info.value)

    @pytest.mark.parametrize(
        "headers",
        [
            {"x-key": f"{SECRET}\n"},
            {"x key": SECRET},
            {"x-key": f"{SECRET}\u00e9"},
            {"x-ok": "1", f"Authorization: Bearer {SECRET}": "x"},
        ],
        ids=["newline", "name", "non-ascii", "value-in-name"],
    )
    def test_headers_argument(self, env: pytest.MonkeyPatch, headers: dict[str, str]) -> None:
        """Headers given are checked the same way, named ``headers``."""
        with pytest.raises(ValueError, match="headers") as info:
            OtlpTransport("http://127.0.0.1:4318", headers=headers)
        assert "SECRET" not in str(info.value)
        assert "Bearer" not in str(info.value)

    @pytest.mark.parametrize(
        ("arguments", "said"),
        [
            ({"temporality": "monthly"}, "temporality"),
            ({"max_attribute_sets": 0}, "max_attribute_sets"),
            ({"endpoint": "collector:4318"}, "endpoint"),
        ],
    )
    def test_arguments(self, env: pytest.MonkeyPatch, arguments: dict[str, Any], said: str) -> None:
        """A bad argument is named."""
        with pytest.raises(ValueError, match=said):
            OtlpTransport(**arguments)
