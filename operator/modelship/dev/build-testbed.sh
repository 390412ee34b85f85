#!/usr/bin/env bash
# Builds the test bed's binaries from the Go module proxy at pinned versions, into a cache
# outside the checkout. Each component is skipped when its binaries are already cached, so a
# second run costs nothing. Called by `modelship dev build` (and so by `make test` / `.ci/run`).
set -euo pipefail

K8S_VERSION="${MODELSHIP_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${MODELSHIP_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${MODELSHIP_KWOK_VERSION:-v0.8.0}"
VERSITYGW_VERSION="${MODELSHIP_VERSITYGW_VERSION:-v1.8.0}"
HELM_VERSION="${MODELSHIP_HELM_VERSION:-v3.21.4}"
PROMETHEUS_VERSION="${MODELSHIP_PROMETHEUS_VERSION:-v0.316.0}"
CACHE="${MODELSHIP_CACHE:-$HOME/.cache/modelship}"
COMPONENTS="${*:-kubernetes node etcd kwok versitygw helm prometheus}"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "build-testbed: '$1' is not installed; $2" >&2; exit 2; }
}
need go "install Go 1.25 or newer (https://go.dev/doc/install or apt-get install golang)"
# Everything is built from the proxy: say so at once rather than after a long failing build.
# (GOPROXY=off means building from a filled module cache, on purpose.)
if [ "$(go env GOPROXY)" != "off" ] && ! go list -m -versions k8s.io/kubernetes >/dev/null 2>&1; then
  echo "build-testbed: the Go module proxy ($(go env GOPROXY)) is unreachable; the test bed is built from it" >&2
  exit 2
fi

log() { echo "build-testbed: $*" >&2; }

# Builds into a versioned folder, then links it into $CACHE/bin; a half-finished build never
# lands in bin/ because the folder is renamed only once every binary is there.
publish() { # name version-dir binaries...
  local dir="$1"; shift
  mkdir -p "$CACHE/bin"
  for b in "$@"; do ln -sfn "$dir/$b" "$CACHE/bin/$b"; done
}

# A wrapper module that requires k8s.io/kubernetes and points each staging module at its
# published release (k8s.io/kubernetes requires them at v0.0.0 with local replaces), then
# builds the given commands from it. Usage: build_k8s_commands <out-dir> <commands...>
build_k8s_commands() {
  local out="$1"; shift
  local bins=("$@")
  local mod="$CACHE/src/$(basename "$out")"
  rm -rf "$mod" && mkdir -p "$mod" && cd "$mod"
  go mod init modelship.local/testbed/kubernetes >/dev/null 2>&1
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
  for name in $(grep -E '=> \./staging/' "$gomod" | awk '{print $1}' | sort -u); do
    go mod edit -replace "$name=$name@$staging"
  done
  { echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
    for b in "${bins[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
    echo ')'; } > tools.go
  go mod tidy
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local tmp="$out.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
  for b in "${bins[@]}"; do
    log "  go build $b"
    go build -trimpath -ldflags "$ld" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b"
  done
  rm -rf "$out" && mv "$tmp" "$out"
  publish "$out" "${bins[@]}"
}

build_kubernetes() {
  local out="$CACHE/kubernetes-$K8S_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if [ -x "$out/kubectl" ]; then publish "$out" "${bins[@]}"; return; fi
  log "building Kubernetes $K8S_VERSION (cold: tens of minutes on 2 cores)"
  build_k8s_commands "$out" "${bins[@]}"
}

# The real node's kubelet and kube-proxy, from the same release as the control plane (about a
# minute each once the control plane's build cache is warm).
build_node() {
  local out="$CACHE/kubernetes-node-$K8S_VERSION"
  local bins=(kubelet kube-proxy)
  if [ -x "$out/kube-proxy" ]; then publish "$out" "${bins[@]}"; return; fi
  log "building kubelet and kube-proxy $K8S_VERSION"
  build_k8s_commands "$out" "${bins[@]}"
}

build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then publish "$out" etcd; return; fi
  log "building etcd $ETCD_VERSION"
  local mod="$CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$mod" && mkdir -p "$mod" && cd "$mod"
  go mod init modelship.local/testbed/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  local tmp="$out.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
  go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  rm -rf "$out" && mv "$tmp" "$out"
  publish "$out" etcd
}

go_install() { # dir binaries... -- packages...   (GO_INSTALL_LDFLAGS adds linker flags)
  local out="$1"; shift
  local bins=() pkgs=()
  while [ "$1" != "--" ]; do bins+=("$1"); shift; done; shift
  pkgs=("$@")
  if [ -x "$out/${bins[0]}" ]; then publish "$out" "${bins[@]}"; return; fi
  log "go install ${pkgs[*]}"
  local tmp="$out.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w ${GO_INSTALL_LDFLAGS:-}" "${pkgs[@]}"
  rm -rf "$out" && mv "$tmp" "$out"
  publish "$out" "${bins[@]}"
}

for c in $COMPONENTS; do
  case "$c" in
    kubernetes) build_kubernetes ;;
    node) build_node ;;
    etcd) build_etcd ;;
    kwok) go_install "$CACHE/kwok-$KWOK_VERSION" kwok kwokctl -- \
            "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
          # kwok's stock Stages (node heartbeat, pod ready/complete/delete): the sandbox adds its
          # own failure Stages, and then kwokctl no longer adds the stock ones by itself.
          if [ ! -d "$CACHE/kwok-stages-$KWOK_VERSION" ]; then
            src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
            [ -d "$src" ] || go mod download "sigs.k8s.io/kwok@$KWOK_VERSION"
            mkdir -p "$CACHE/kwok-stages-$KWOK_VERSION.partial"
            cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
               "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" \
               "$CACHE/kwok-stages-$KWOK_VERSION.partial/"
            chmod -R u+w "$CACHE/kwok-stages-$KWOK_VERSION.partial"
            mv "$CACHE/kwok-stages-$KWOK_VERSION.partial" "$CACHE/kwok-stages-$KWOK_VERSION"
          fi ;;
    versitygw) go_install "$CACHE/versitygw-$VERSITYGW_VERSION" versitygw -- \
            "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ;;
    helm) GO_INSTALL_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
            go_install "$CACHE/helm-$HELM_VERSION" helm -- "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
    # The canary analysis' PromQL metrics are tested against a real Prometheus (about ten
    # minutes cold on 2 cores).
    prometheus) go_install "$CACHE/prometheus-$PROMETHEUS_VERSION" prometheus -- \
            "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" ;;
    *) echo "build-testbed: unknown component '$c'" >&2; exit 2 ;;
  esac
done
log "test bed binaries ready in $CACHE/bin"
