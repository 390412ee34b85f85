"""The real node's configuration: pods get no way off this machine, kube-proxy and kubelet
leave the machine's shared kernel settings alone, and only pods that ask land there."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from modelship.dev import node
from modelship.dev.cluster import components_patches
from modelship.dev.sandbox import Sandbox


def test_pods_get_a_route_to_services_only_never_a_default_route() -> None:
    ipam = node.cni_config(Path("/ipam"))["plugins"][0]["ipam"]
    destinations = [route["dst"] for route in ipam["routes"]]
    assert destinations == [node.SERVICE_CIDR]
    assert "0.0.0.0/0" not in destinations
    # The bridge is not the pods' gateway: that would also switch on ip_forward by itself.
    bridge = node.cni_config(Path("/ipam"))["plugins"][0]
    assert bridge["isGateway"] is False and bridge["ipMasq"] is False


def test_the_sandbox_ranges_do_not_overlap() -> None:
    ranges = [
        ipaddress.ip_network(c) for c in (node.POD_CIDR, node.SERVICE_CIDR, node.SIMULATED_POD_CIDR)
    ]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    assert ipaddress.ip_address(node.KUBERNETES_SERVICE_IP) in ipaddress.ip_network(
        node.SERVICE_CIDR
    )
    assert ipaddress.ip_address(node.BRIDGE_IP) in ipaddress.ip_network(node.POD_CIDR)


def test_kube_proxy_leaves_conntrack_and_localnet_alone() -> None:
    config = node.kube_proxy_config(Path("/kubeconfig"))
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["bindAddress"] == "127.0.0.1"
    assert config["nodePortAddresses"] == [f"{node.BRIDGE_IP}/32"]


def test_kubelet_listens_on_the_bridge_and_is_tainted() -> None:
    config = node.kubelet_config(Path("/ca.crt"), Path("/run/c.sock"))
    assert config["address"] == node.BRIDGE_IP
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["readOnlyPort"] == 0
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["registerWithTaints"] == [node.REAL_NODE_TAINT]
    # Images cannot be pulled again here: never garbage-collect them.
    assert config["imageGCHighThresholdPercent"] == 100


def test_containerd_uses_the_local_pause_image_and_cgroupfs() -> None:
    text = node.containerd_config(Path("/root"), Path("/run/x"), Path("/cni"))
    assert 'sandbox_image = "modelship.local/pause:' in text
    assert "SystemdCgroup = false" in text
    assert "restrict_oom_score_adj = true" in text


def test_the_cluster_is_ready_for_a_real_node(tmp_path: Path) -> None:
    patches = {
        p["name"]: {a["key"]: a["value"] for a in p.get("extraArgs", [])}
        for p in components_patches(tmp_path)
    }
    apiserver = patches["kube-apiserver"]
    assert apiserver["advertise-address"] == node.BRIDGE_IP
    assert apiserver["service-cluster-ip-range"] == node.SERVICE_CIDR
    assert apiserver["kubelet-client-certificate"] == str(tmp_path / "admin.crt")
    kwok = patches["kwok-controller"]
    assert kwok["manage-all-nodes"] == "false"
    assert kwok["cidr"] == node.SIMULATED_POD_CIDR


def test_snapshot_differences_name_what_changed() -> None:
    before = node.MachineSnapshot(
        links=["eth0", "lo"],
        routes=["default via 192.0.2.1 dev eth0"],
        sysctls={"net/ipv4/ip_forward": "0"},
        mounts=["/"],
        iptables=["filter:FORWARD"],
        netns=[],
    )
    after = node.MachineSnapshot(
        links=["eth0", "lo", node.BRIDGE],
        routes=before.routes,
        sysctls={"net/ipv4/ip_forward": "1"},
        mounts=["/"],
        iptables=["filter:FORWARD", "filter:KUBE-FIREWALL"],
        netns=[],
    )
    assert before.differences(after) == [
        f"links: added {node.BRIDGE}",
        "iptables: added filter:KUBE-FIREWALL",
        "sysctl net/ipv4/ip_forward: 0 before, 1 after",
    ]
    assert before.differences(before) == []


def test_a_machine_without_the_runtime_is_named_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A PATH with none of the node's tools, as on a machine without Debian's packages.
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = node.missing_features()
    assert "'containerd' is not installed (apt-get install containerd)" in missing
    assert "'runc' is not installed (apt-get install runc)" in missing
    assert "'iptables' is not installed (apt-get install iptables)" in missing
    # The sandbox then starts with kwok's nodes only and says why, instead of failing.
    reason = Sandbox("unit")._start_real_node()
    assert reason.startswith("unavailable: ")
    assert "'containerd' is not installed" in reason
    assert "kwok nodes only" in capsys.readouterr().err
