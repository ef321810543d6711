#!/usr/bin/env bash
# Blocks spread over two Ray nodes that reach each other over a real network path: each node in
# a network namespace of its own on this machine (Linux, root, iproute2), joined by a bridge,
# the head and the driver in the root namespace. No test asserts its figures; it shows that
# --spread-blocks works when the nodes are separate network hosts (addresses of this machine's
# own namespaces only; both nodes still share this machine's cores).
#
#   sudo bash benchmarks/ray_netns.sh OUT [extra mnist-bench run options]
#
# e.g. bash benchmarks/ray_netns.sh results/ray-netns --profile smoke --backends jax,torch \
#        --models linear_sgd --blocks 4 --order-seed 3
set -euo pipefail
out=${1:?usage: ray_netns.sh OUT [mnist-bench run options]}
shift
py=${PYTHON:-python}
ray=$(dirname "$(command -v "$py")")/ray
net=10.77.0
port=6390
cleanup() {
  for ns in mb-a mb-b; do
    ip netns exec "$ns" "$ray" stop --force >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
  done
  "$ray" stop --force >/dev/null 2>&1 || true
  ip link del br-mb 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip link add br-mb type bridge
ip addr add "$net.1/24" dev br-mb
ip link set br-mb up
i=2
for ns in mb-a mb-b; do
  ip netns add "$ns"
  ip link add "v-$ns" type veth peer name eth0 netns "$ns"
  ip link set "v-$ns" master br-mb up
  ip netns exec "$ns" ip addr add "$net.$i/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  i=$((i + 1))
done
"$ray" start --head --node-ip-address "$net.1" --port "$port" --num-cpus 0 \
  --include-dashboard false --disable-usage-stats >/dev/null
i=2
for ns in mb-a mb-b; do
  ip netns exec "$ns" "$ray" start --address "$net.1:$port" --node-ip-address "$net.$i" \
    --num-cpus 1 --labels "mnist-bench/machine=node-${ns#mb-}" --disable-usage-stats >/dev/null
  i=$((i + 1))
done
echo "nodes: node-a at $net.2 (namespace mb-a), node-b at $net.3 (namespace mb-b), head at $net.1"
"$py" -m mnist_bench run --executor ray --ray-address "$net.1:$port" --spread-blocks \
  --out "$out" "$@"
