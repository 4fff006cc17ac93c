#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>/, git-ignored) from the captured vectors in
# crates/bgp/tests/data/:
#   message, roundtrip  one file per BGP message, prefixed by a context-selector byte (the
#                       targets read their codec context from the first byte): once with the
#                       plain RFC 4271 context (0x00) and once with the context the vectors
#                       negotiated (4-octet AS + ADD-PATH on every family, 0x1d)
#   attributes          the path-attribute block of every UPDATE, with the same prefixes
#   evpn_nlri           every EVPN NLRI (MP_REACH/MP_UNREACH, AFI 25 / SAFI 70), one per file,
#                       and each whole NLRI block
#   pcap                the .pcap captures (pcapng), each also converted to classic pcap
#   ovsdb               the ovsdb-server replies in crates/ovsdb/tests/data/ (captured from a real
#                       ovsdb-server), each prefixed by a cut byte: 0 (one read) and 37 (two reads)
#   cni_result          CNI plugin outputs (a macvlan ADD result as Debian's plugin prints it, an
#                       error object), each with selector bytes for ADD/CHECK/DEL and exit status
#   handoff_state       a session-handoff state (JSON) with real OPENs, unread bytes and an
#                       Adj-RIB-In made of the captured UPDATEs
# Idempotent: files are named by content hash.
set -euo pipefail
cd "$(dirname "$0")"
DATA=../crates/bgp/tests/data
mkdir -p corpus/message corpus/roundtrip corpus/attributes corpus/evpn_nlri corpus/pcap corpus/handoff_state

python3 - "$DATA" <<'EOF'
import hashlib, os, struct, sys, glob

data = sys.argv[1]

def put(target, blob):
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join("corpus", target, name), "wb") as f:
        f.write(blob)

# Context selector bytes understood by fuzz_targets/*.rs (see context.rs there):
# bit0 4-octet AS, bit1 extended message, bit2 add-path ipv4, bit3 add-path ipv6,
# bit4 add-path evpn, bit5 iBGP known, bit6 iBGP.
CONTEXTS = [0x00, 0x1d]

def attributes(upd):
    """Yields (type_code, value) of the path attributes of an UPDATE body."""
    if len(upd) < 2:
        return
    wlen = struct.unpack(">H", upd[0:2])[0]
    at = 2 + wlen
    if at + 2 > len(upd):
        return
    alen = struct.unpack(">H", upd[at:at + 2])[0]
    block = upd[at + 2:at + 2 + alen]
    i = 0
    while i + 3 <= len(block):
        flags, code = block[i], block[i + 1]
        if flags & 0x10:
            if i + 4 > len(block):
                return
            ln = struct.unpack(">H", block[i + 2:i + 4])[0]
            hdr = 4
        else:
            ln = block[i + 2]
            hdr = 3
        yield code, block[i + hdr:i + hdr + ln]
        i += hdr + ln

def attribute_block(upd):
    wlen = struct.unpack(">H", upd[0:2])[0]
    at = 2 + wlen
    alen = struct.unpack(">H", upd[at:at + 2])[0]
    return upd[at + 2:at + 2 + alen]

def evpn_nlri_block(code, value):
    if code == 14 and len(value) >= 5:
        afi, safi, nhlen = struct.unpack(">HBB", value[:4])
        rest = value[4 + nhlen + 1:]
    elif code == 15 and len(value) >= 3:
        afi, safi = struct.unpack(">HB", value[:3])
        rest = value[3:]
    else:
        return None
    return rest if (afi, safi) == (25, 70) else None

counts = dict(message=0, attributes=0, evpn_nlri=0, pcap=0)
for hexfile in sorted(glob.glob(os.path.join(data, "*.hex"))):
    for line in open(hexfile):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        msg = bytes.fromhex(line)
        for ctx in CONTEXTS:
            put("message", bytes([ctx]) + msg)
            put("roundtrip", bytes([ctx]) + msg)
        counts["message"] += 1
        if len(msg) > 19 and msg[18] == 2:
            body = msg[19:]
            for ctx in CONTEXTS:
                put("attributes", bytes([ctx]) + attribute_block(body))
            counts["attributes"] += 1
            for code, value in attributes(body):
                block = evpn_nlri_block(code, value)
                if not block:
                    continue
                put("evpn_nlri", block)
                i = 0
                while i + 2 <= len(block):
                    ln = block[i + 1]
                    put("evpn_nlri", block[i:i + 2 + ln])
                    counts["evpn_nlri"] += 1
                    i += 2 + ln

def pcapng_to_pcap(ng):
    """Converts a little-endian, single-interface pcapng (as tshark writes) to classic pcap."""
    out = bytearray()
    i = 0
    link = None
    resol = 6
    packets = []
    while i + 12 <= len(ng):
        btype, blen = struct.unpack("<II", ng[i:i + 8])
        body = ng[i + 8:i + blen - 4]
        if btype == 1 and link is None:
            link = struct.unpack("<H", body[0:2])[0]
            j = 8
            while j + 4 <= len(body):
                code, ln = struct.unpack("<HH", body[j:j + 4])
                if code == 0:
                    break
                if code == 9 and ln >= 1:
                    resol = body[j + 4]
                j += 4 + (ln + 3) // 4 * 4
        elif btype == 6:
            _, hi, lo, cap, orig = struct.unpack("<IIIII", body[:20])
            ts = (hi << 32) | lo  # in units of the interface's if_tsresol
            packets.append((ts, body[20:20 + cap], orig))
        if blen < 12:
            break
        i += blen
    # Microsecond pcap for a microsecond pcapng, nanosecond pcap (magic 0xA1B23C4D) otherwise.
    nano = resol != 6
    unit = 10 ** resol if resol < 0x80 else 1 << (resol & 0x7f)
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out += struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, link or 1)
    for ts, pkt, orig in packets:
        frac = (ts % unit) * (10 ** 9 if nano else 10 ** 6) // unit
        out += struct.pack("<IIII", ts // unit, frac, len(pkt), orig)
        out += pkt
    return bytes(out)

for cap in sorted(glob.glob(os.path.join(data, "*.pcap"))):
    ng = open(cap, "rb").read()
    put("pcap", ng)
    put("pcap", pcapng_to_pcap(ng))
    counts["pcap"] += 2

# A session-handoff state: two OPENs (AS 65001 and 64514, hold 90), half a KEEPALIVE unread,
# and an Adj-RIB-In of End-of-RIB plus the first captured UPDATEs.
import json
def bgp(ty, body):
    return b"\xff" * 16 + struct.pack(">HB", 19 + len(body), ty) + body
ours = bgp(1, bytes([4]) + struct.pack(">HH", 64514, 90) + bytes([10, 0, 0, 1, 0]))
theirs = bgp(1, bytes([4]) + struct.pack(">HH", 65001, 90) + bytes([10, 0, 0, 2, 0]))
updates = [bgp(2, b"\0\0\0\0").hex()]
for f in sorted(glob.glob(os.path.join(data, "*.hex")))[:1]:
    for line in open(f):
        line = line.strip()
        if line and not line.startswith("#"):
            raw = bytes.fromhex(line.split()[-1]) if all(c in "0123456789abcdefABCDEF" for c in line.split()[-1]) else b""
            if len(raw) > 19 and raw[18] == 2:
                updates.append(raw.hex())
        if len(updates) > 8:
            break
state = {
    "version": 1, "target": {"address": "10.0.0.2"}, "remote": "10.0.0.2:179",
    "local": "10.0.0.1:40000", "we_connected": True, "our_open": ours.hex(),
    "peer_open": theirs.hex(), "unread": "ffffffffffffffffff", "max_message_len": 4096,
    "hold_left_ns": 60000000000, "keepalive_left_ns": 20000000000, "send_hold_left_ns": None,
    "jitter": 42, "established_unix_ms": 1700000000000,
    "counters": {"messages_in": {"open": 1, "update": 3, "notification": 0, "keepalive": 9,
                                 "route_refresh": 0, "unknown": 0},
                 "messages_out": {"open": 1, "update": 2, "notification": 0, "keepalive": 9,
                                  "route_refresh": 0, "unknown": 0},
                 "prefixes_received": 3, "prefixes_withdrawn": 0, "prefixes_advertised": 2,
                 "flaps": 0, "established_transitions": 1, "handoffs": 0},
    "adj_rib_in": updates,
}
put("handoff_state", json.dumps(state).encode())
counts["handoff_state"] = 1

print("seeded:", ", ".join(f"{k} {v}" for k, v in counts.items()))
EOF

# OVSDB: the first byte is where the target cuts the stream in two reads.
mkdir -p corpus/ovsdb
n=0
for f in ../crates/ovsdb/tests/data/*.json; do
    for cut in '\x00' '\x25'; do
        tmp=$(mktemp)
        { printf "$cut"; cat "$f"; } >"$tmp"
        name=$(sha1sum <"$tmp" | cut -c1-40)
        mv "$tmp" "corpus/ovsdb/$name"
        n=$((n + 1))
    done
done
echo "seeded: ovsdb $n"

# CNI plugin output: the first byte selects the command (mod 3), a failed exit (0x80) and a
# stdout/stderr cut (0x40).
mkdir -p corpus/cni_result
n=0
for out in \
    '{"cniVersion":"1.0.0","interfaces":[{"name":"net1","mac":"b6:9f:3e:7c:31:4e","sandbox":"/run/netns/perouter"}],"ips":[{"interface":0,"address":"192.168.11.3/24"}],"dns":{}}' \
    '{"cniVersion":"1.0.0","code":999,"msg":"Link not found"}'; do
    for sel in '\x00' '\x01' '\x02' '\x80' '\xc0'; do
        tmp=$(mktemp)
        { printf "$sel"; printf '%s' "$out"; } >"$tmp"
        name=$(sha1sum <"$tmp" | cut -c1-40)
        mv "$tmp" "corpus/cni_result/$name"
        n=$((n + 1))
    done
done
echo "seeded: cni_result $n"
