#!/usr/bin/env bash
# Two "nodes" on one machine, for testing the multi-node path: two network namespaces joined by a
# veth pair (10.77.X.1 and 10.77.X.2), each with a hostname of its own, and an rsh agent with which
# mpirun (on node 1) starts its daemon on node 2, as it would over ssh on a cluster. MPI then
# talks TCP between them (no shared memory: the two hostnames are two nodes to Open MPI).
#   two_nodes.sh check          exit 0 if this machine can (root, ip, unshare, mpirun), else say why
#   two_nodes.sh up ID          make the namespaces (ID: a small number, unique among concurrent users)
#   two_nodes.sh mpirun ID ARGS run `mpirun ARGS` on node 1 with a hostfile of both nodes, one slot each
#   two_nodes.sh down ID        remove them
set -euo pipefail
cmd=${1:-}
id=${2:-}
ns() { echo "mvae-$id-$1"; }   # namespace of node1 / node2
subnet() { echo "10.77.$((id % 250)).0/24"; }
addr() { echo "10.77.$((id % 250)).$1"; }

why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "not root (network namespaces need CAP_NET_ADMIN)"; return 1; }
  for tool in ip unshare mpirun; do command -v "$tool" >/dev/null || { echo "$tool not installed"; return 1; }; done
  ip netns add "mvae-probe-$$" 2>/dev/null || { echo "cannot make network namespaces here (ip netns add failed)"; return 1; }
  ip netns del "mvae-probe-$$"
}

down() {
  for n in node1 node2; do
    ip netns del "$(ns $n)" 2>/dev/null || true
    rm -rf "/etc/netns/$(ns $n)"
  done
}

up() {
  down
  for n in node1 node2; do
    ip netns add "$(ns $n)"
    ip -n "$(ns $n)" link set lo up
    # `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts: both nodes resolve both names.
    mkdir -p "/etc/netns/$(ns $n)"
    printf '127.0.0.1 localhost\n%s node1\n%s node2\n' "$(addr 1)" "$(addr 2)" > "/etc/netns/$(ns $n)/hosts"
  done
  ip link add "mv${id}a" type veth peer name "mv${id}b"
  ip link set "mv${id}a" netns "$(ns node1)"
  ip link set "mv${id}b" netns "$(ns node2)"
  ip -n "$(ns node1)" addr add "$(addr 1)/24" dev "mv${id}a"
  ip -n "$(ns node2)" addr add "$(addr 2)/24" dev "mv${id}b"
  ip -n "$(ns node1)" link set "mv${id}a" up
  ip -n "$(ns node2)" link set "mv${id}b" up
}

# mpirun's remote-shell agent: `rsh HOST COMMAND...` runs COMMAND (one string, as ssh gets it) on
# HOST, i.e. in its namespace with its hostname.
rsh() {
  local host=$1
  shift
  exec ip netns exec "$(ns "$host")" unshare --uts sh -c 'hostname "$0"; exec sh -c "$*"' "$host" "$@"
}

run_mpirun() {
  local hostfile
  hostfile=$(mktemp)
  printf 'node1 slots=1\nnode2 slots=1\n' > "$hostfile"
  local status=0
  MVAE_NETNS_ID=$id ip netns exec "$(ns node1)" unshare --uts sh -c 'hostname node1; exec "$@"' sh \
    mpirun --hostfile "$hostfile" --mca plm_rsh_agent "$(readlink -f "$0") rsh-agent" \
      --mca btl tcp,self --mca oob_tcp_if_include "$(subnet)" --mca btl_tcp_if_include "$(subnet)" "$@" || status=$?
  rm -f "$hostfile"
  return $status
}

case "$cmd" in
  check) why_not ;;
  up) up ;;
  down) down ;;
  mpirun) shift 2; run_mpirun "$@" ;;
  rsh-agent) id=$MVAE_NETNS_ID; shift; rsh "$@" ;;
  *) echo "usage: two_nodes.sh check | up ID | mpirun ID ARGS... | down ID" >&2; exit 2 ;;
esac
