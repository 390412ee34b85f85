"""The controller's reads after its own writes (controller/cache.py): the object a write
returned is used until the watch delivers a newer one, so a pass right after a write does not
act on the old copy (and never starts a training Job twice)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import kopf

from modelship.controller.cache import ObjectCache
from modelship.controller.main import configure_kopf
from modelship.controller.modeldeployment import needs_apply
from modelship.controller.settings import OperatorSettings


class FakeIndex(dict[tuple[str, ...], list[dict[str, Any]]]):
    """kopf's Index as the cache reads it: key -> the values of every object with that key."""


def obj(kind: str, name: str, version: str, **labels: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": version,
            "labels": labels,
        },
    }


def indexed(
    index: Callable[..., Coroutine[Any, Any, dict[Any, dict[str, Any]]]], body: dict[str, Any]
) -> dict[Any, dict[str, Any]]:
    """What an index function gives kopf for one watched object."""
    return asyncio.run(index(body=body))


def cache_with(**indexes: dict[tuple[str, ...], list[dict[str, Any]]]) -> ObjectCache:
    names = ("model_deployments", "deployments", "services", "pods", "jobs", "secrets")
    return ObjectCache({name: FakeIndex(indexes.get(name, {})) for name in names})


def test_a_written_object_is_read_until_the_watch_catches_up() -> None:
    old = obj("Deployment", "d", "1")
    cache = cache_with(deployments={("ns", "d"): [old]})
    cache.wrote(old, obj("Deployment", "d", "2"))
    assert cache.deployment("ns", "d")["metadata"]["resourceVersion"] == "2"
    cache.indexes["deployments"][("ns", "d")] = [obj("Deployment", "d", "2")]
    assert cache.deployment("ns", "d")["metadata"]["resourceVersion"] == "2"
    cache.indexes["deployments"][("ns", "d")] = [obj("Deployment", "d", "3")]  # someone else
    assert cache.deployment("ns", "d")["metadata"]["resourceVersion"] == "3"


def test_a_created_job_is_listed_before_the_watch_delivers_it() -> None:
    labels = {"app.kubernetes.io/instance": "digits", "app.kubernetes.io/component": "training"}
    cache = cache_with()
    assert cache.jobs("ns", "digits", "training") == []
    cache.wrote(None, obj("Job", "digits-train-4", "9", **labels))
    assert [j["metadata"]["name"] for j in cache.jobs("ns", "digits", "training")] == [
        "digits-train-4"
    ]
    assert cache.jobs("ns", "other", "training") == []
    cache.indexes["jobs"][("ns", "digits", "training")] = [obj("Job", "digits-train-4", "9")]
    assert len(cache.jobs("ns", "digits", "training")) == 1


def test_an_object_deleted_after_our_write_is_gone() -> None:
    old = obj("Service", "s", "1")
    cache = cache_with(services={("ns", "s"): [old]})
    cache.wrote(old, obj("Service", "s", "2"))
    cache.indexes["services"].clear()
    assert cache.service("ns", "s") is None


def test_an_object_we_made_and_deleted_before_the_watch_saw_it_is_gone() -> None:
    """A refused run's headless Service, created then deleted within one pass: the watch may
    never deliver it, so only our own deletion can tell the cache it is gone."""
    labels = {"app.kubernetes.io/instance": "digits", "app.kubernetes.io/component": "training"}
    cache = cache_with()
    cache.wrote(None, obj("Service", "digits-train-4", "9", **labels))
    assert cache.service("ns", "digits-train-4") is not None
    cache.deleted("Service", "ns", "digits-train-4")
    assert cache.service("ns", "digits-train-4") is None
    cache.deleted("Job", "ns", "never-written")  # nothing to drop: no error


def test_an_unchanged_object_is_applied_again_only_after_a_while() -> None:
    seen = {"metadata": {"annotations": {"modelship.io/applied-hash": "abc"}}}
    assert not needs_apply("abc", seen, applied_at=100.0, now=130.0)
    assert needs_apply("abc", seen, applied_at=100.0, now=100.0 + 601)
    assert needs_apply("abc", seen, applied_at=None, now=130.0)  # a restarted operator
    assert needs_apply("def", seen, applied_at=100.0, now=130.0)
    assert needs_apply("abc", None, applied_at=100.0, now=130.0)


def test_a_gone_model_deployment_leaves_nothing_behind() -> None:
    labels = {"app.kubernetes.io/instance": "digits", "app.kubernetes.io/component": "training"}
    cache = cache_with()
    cache.wrote(None, obj("Job", "digits-train-4", "9", **labels))
    cache.wrote(None, obj("ModelDeployment", "digits", "3"))
    cache.wrote(None, obj("ModelDeployment", "other", "3"))
    cache.forget("ns", "digits")
    assert cache.jobs("ns", "digits", "training") == []
    assert cache.model_deployment("ns", "digits") is None
    assert cache.model_deployment("ns", "other") is not None


def test_cached_copies_leave_managed_fields_out_and_keep_the_rest() -> None:
    from modelship.controller import cache as cache_module

    body = obj("Deployment", "d", "7", app="x")
    body["metadata"]["managedFields"] = [{"manager": "modelship", "fieldsV1": {"f:spec": {}}}]
    body["status"] = {"readyReplicas": 1}
    [kept] = indexed(cache_module.deployments, body).values()
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["labels"] == {"app": "x"} and kept["status"] == {"readyReplicas": 1}
    body["status"]["readyReplicas"] = 2  # a later event changes the body, not the copy
    assert kept["status"] == {"readyReplicas": 1}
    cache = cache_with()
    cache.wrote(None, body)
    assert "managedFields" not in cache.deployment("ns", "d")["metadata"]


def test_cached_objects_decoded_apart_share_their_repeated_strings() -> None:
    """Each watch event is decoded on its own; the cache keeps one copy of each key and short
    value for all its objects (memory at 1,000 ModelDeployments), and the copies stay apart."""
    import json

    from modelship.controller import cache as cache_module

    def decoded(name: str) -> dict[str, Any]:
        body = obj("Service", name, "1", app="model")
        body["spec"] = {"ports": [{"name": "http", "port": 8501}], "note": "x" * 100}
        return json.loads(json.dumps(body))  # a fresh decode, as each watch event is

    [first] = indexed(cache_module.services, decoded("a")).values()
    [second] = indexed(cache_module.services, decoded("b")).values()
    assert first["spec"] == second["spec"] and first["spec"] is not second["spec"]
    pairs = zip(first["spec"]["ports"][0], second["spec"]["ports"][0], strict=True)
    assert all(first_key is second_key for first_key, second_key in pairs)
    assert first["metadata"]["labels"]["app"] is second["metadata"]["labels"]["app"]
    assert first["spec"]["note"] is not second["spec"]["note"]  # long strings are not shared
    second["spec"]["ports"][0]["port"] = 9000
    assert first["spec"]["ports"][0]["port"] == 8501


def test_slim_cached_pods_and_deployments_give_the_same_verdicts() -> None:
    """The cache keeps a pod's spec only as far as decisions read it, and a Deployment without
    its template's spec: an OOM kill still names its limit, the version still shows."""
    from modelship.controller import cache as cache_module
    from modelship.reconcile.health import assess_serving
    from tests.unit.reconcile.builders import NOW, deployment, model_deployment, pod

    served = deployment(model_deployment(), 2).obj()  # the operator's own template
    killed = pod("p").version(2).oom_killed().memory_limit("2Gi").obj()
    killed["spec"]["containers"][0]["env"] = [{"name": f"E{i}", "value": "x"} for i in range(20)]
    [slim_deployment] = indexed(cache_module.deployments, served).values()
    [slim_pod] = indexed(cache_module.pods, killed).values()
    assert "spec" not in slim_deployment["spec"]["template"]
    assert "env" not in slim_pod["spec"]["containers"][0]
    full = assess_serving(served, [killed], 2, NOW)
    slim = assess_serving(slim_deployment, [slim_pod], 2, NOW)
    assert slim == full
    assert "2Gi" in " ".join(p.message for p in slim.problems)


def test_the_api_server_sends_only_our_objects_of_the_kinds_we_own() -> None:
    """The label selector goes on the watch itself (kopf's `labels=` on a handler only
    filters what already arrived): a namespace's other Deployments, Services, pods and Jobs
    never reach the operator. Secrets are not ours to label: watched whole."""
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings())
    managed = "app.kubernetes.io/managed-by=modelship"
    for group, version, plural in (
        ("apps", "v1", "deployments"),
        ("", "v1", "services"),
        ("", "v1", "pods"),
        ("batch", "v1", "jobs"),
    ):
        selectors = settings.watching.label_selectors.collect(kopf.Resource(group, version, plural))
        assert selectors == [managed], plural
    assert settings.watching.label_selectors.collect(kopf.Resource("", "v1", "secrets")) == []
