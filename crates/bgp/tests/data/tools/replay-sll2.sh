#!/usr/bin/env bash
# Re-sends the BGP messages of a `.hex` vector over a real TCP connection on the loopback of a
# fresh network namespace and captures them with tshark on the "any" pseudo-interface, which
# writes Linux cooked-mode v2 (SLL2) frames into a classic pcap file: a capture written by an
# independent writer (dumpcap/libpcap), with a link type the original captures do not have.
# Each side's messages go out in the vector's order, 20 ms apart, so the capture keeps it.
#
#   crates/bgp/tests/data/tools/replay-sll2.sh frr-gobgp   # writes frr-gobgp.sll2.pcap
set -euo pipefail
pair=$1
here=$(cd "$(dirname "$0")/.." && pwd)
ns=vecsll2$$
ip netns add "$ns"
trap 'kill $cap 2>/dev/null || true; ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
out="$here/$pair.sll2.pcap"
rm -f "$out"
ip netns exec "$ns" tshark -q -i any -y LINUX_SLL2 -F pcap -w "$out" -f "tcp port 179" 2>/dev/null &
cap=$!
# dumpcap writes the file header once it is capturing; a further second lets it settle.
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
sleep 1
ip netns exec "$ns" python3 - "$here/$pair.hex" <<'PY'
import socket, sys, threading, time
msgs, src = [], None
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith('# ') and ' frame ' in line and '->' in line:
        src = line.split()[4].split('->')[0]
    elif line and not line.startswith('#'):
        msgs.append((src, bytes.fromhex(line)))
first = msgs[0][0]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 179)); srv.listen(1)
cli = socket.create_connection(('127.0.0.1', 179))
acc, _ = srv.accept()
sink = lambda s: [None for _ in iter(lambda: s.recv(65536), b'')]
for s in (cli, acc):
    threading.Thread(target=sink, args=(s,), daemon=True).start()
for src, m in msgs:
    (cli if src == first else acc).sendall(m)
    time.sleep(0.02)
time.sleep(0.5)
cli.shutdown(socket.SHUT_WR); acc.shutdown(socket.SHUT_WR)
time.sleep(0.5)
print(f"sent {len(msgs)} messages")
PY
sleep 2
kill -INT $cap
wait $cap 2>/dev/null || true
file "$out"
