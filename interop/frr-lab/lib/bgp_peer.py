#!/usr/bin/env python3
"""A scripted BGP peer for the slow-peer lab (interop/frr-lab/slow-peer.sh).

Listens on port 179 in its namespace, accepts perouter's connection, exchanges
OPEN/KEEPALIVE (IPv4 unicast, 4-octet AS), then, by mode:

  slow   never reads again (small SO_RCVBUF, so its TCP window closes) but keeps
         sending KEEPALIVEs; reports when perouter closes the connection.
  flood  announces COUNT /24s from 20.0.0.0 (1000 per UPDATE), withdraws them all
         when DIR/withdraw appears, keeps reading and sending KEEPALIVEs; reports any
         NOTIFICATION received.
  dial   (args: ASN RID DIR TARGET) connects from RID to TARGET:179 instead, as a
         listen-range neighbour does; a connection closed before perouter's OPEN is
         "refused" (DIR/refused-RID counts them) and retried every second; once
         Established, DIR/up-RID exists until DIR/stop-RID appears, then it closes.
         With a 6th argument `evpn`, it first sends an EVPN MP_REACH_NLRI although
         only IPv4 unicast was negotiated.

Status lines go to stdout (flushed) for the script to grep.
"""
import os
import socket
import struct
import sys
import threading
import time


def msg(t, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body


def open_msg(asn, hold, rid):
    caps = bytes([1, 4, 0, 1, 0, 1])  # MP: IPv4 unicast
    caps += bytes([65, 4]) + struct.pack("!I", asn)  # 4-octet AS
    opt = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    return msg(1, struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton(rid), len(opt)) + opt)


def prefix(i):
    n = (20 << 24) + (i << 8)
    return bytes([24, (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255])


def update(withdrawn=b"", attrs=b"", nlri=b""):
    return msg(2, struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri)


def attrs(asn, nh):
    origin = bytes([0x40, 1, 1, 0])
    path = bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", asn)
    nexthop = bytes([0x40, 3, 4]) + socket.inet_aton(nh)
    return origin + path + nexthop


def read_msg(s):
    hdr = b""
    while len(hdr) < 19:
        c = s.recv(19 - len(hdr))
        if not c:
            return None, None
        hdr += c
    ln, t = struct.unpack("!HB", hdr[16:19])
    body = b""
    while len(body) < ln - 19:
        c = s.recv(ln - 19 - len(body))
        if not c:
            return None, None
        body += c
    return t, body


def say(*a):
    print(*a, flush=True)


def dial(asn, rid, d, target, evpn=False):
    up, stop = os.path.join(d, "up-" + rid), os.path.join(d, "stop-" + rid)
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((rid, 0))
        s.settimeout(10)
        try:
            s.connect((target, 179))
            s.sendall(open_msg(asn, 9, rid))
            t, _ = read_msg(s)
        except OSError as e:
            t = None
            say("connect:", e)
        if t != 1:
            say("refused", t)
            with open(os.path.join(d, "refused-" + rid), "a") as f:
                f.write("x\n")
            s.close()
            time.sleep(1)
            continue
        s.sendall(msg(4))
        t, _ = read_msg(s)
        while t not in (None, 3, 4):
            t, _ = read_msg(s)
        if t != 4:
            say("not established", t)
            s.close()
            time.sleep(1)
            continue
        say("established")
        if evpn:
            # An EVPN type-3 route in MP_REACH_NLRI although only IPv4 unicast was negotiated.
            rd = struct.pack("!HHI", 0, asn & 0xFFFF, 7)
            route = rd + b"\x00\x00\x00\x00" + bytes([32]) + socket.inet_aton(rid)
            nlri = bytes([3, len(route)]) + route
            mp = struct.pack("!HBB", 25, 70, 4) + socket.inet_aton(rid) + b"\x00" + nlri
            mp_attr = bytes([0x90, 14]) + struct.pack("!H", len(mp)) + mp
            s.sendall(update(attrs=attrs(asn, rid)[:-7] + mp_attr))
            say("sent EVPN MP_REACH")
        open(up, "w").close()
        s.setblocking(False)
        last = time.time()
        while not os.path.exists(stop):
            time.sleep(0.3)
            try:
                if s.recv(65536) == b"":
                    say("closed by perouter")
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            if time.time() - last > 3:
                s.sendall(msg(4))
                last = time.time()
        s.close()
        os.remove(up)
        if os.path.exists(stop):
            say("stopped")
            return


def main():
    mode, asn, rid, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode == "dial":
        return dial(asn, rid, d, sys.argv[5], len(sys.argv) > 6 and sys.argv[6] == "evpn")
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "slow":
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind((rid, 179))
    ls.listen(4)
    while True:
        s, peer = ls.accept()
        say("accepted", peer[0])
        t, _ = read_msg(s)
        if t != 1:
            say("no OPEN", t)
            s.close()
            continue
        s.sendall(open_msg(asn, 9, rid) + msg(4))
        while True:
            t, body = read_msg(s)
            if t is None or t == 3:
                break
            if t == 4:
                break
        if t != 4:
            say("not established", t, body and body[:2].hex())
            s.close()
            continue
        say("established")
        if mode == "slow":
            # Never read again; keep talking.
            while True:
                time.sleep(3)
                try:
                    s.sendall(msg(4))
                except OSError as e:
                    say("closed by perouter:", e)
                    open(os.path.join(d, "slow-closed"), "w").close()
                    return
        # flood
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                t, body = read_msg(s)
                if t is None:
                    say("connection closed")
                    stop.set()
                    return
                if t == 3:
                    say("NOTIFICATION", body[0], body[1])
                    open(os.path.join(d, "flood-notification"), "w").write("%d %d\n" % (body[0], body[1]))

        threading.Thread(target=reader, daemon=True).start()
        a = attrs(asn, rid)
        t0 = time.time()
        try:
            for i in range(0, count, 1000):
                nlri = b"".join(prefix(j) for j in range(i, min(i + 1000, count)))
                s.sendall(update(attrs=a, nlri=nlri))
        except OSError as e:
            say("announce interrupted:", e)
        say("announced", count, "in %.1fs" % (time.time() - t0))
        withdrawn = False
        last_ka = time.time()
        while not stop.is_set():
            time.sleep(0.2)
            if time.time() - last_ka > 3:
                try:
                    s.sendall(msg(4))
                except OSError:
                    break
                last_ka = time.time()
            if not withdrawn and os.path.exists(os.path.join(d, "withdraw")):
                try:
                    for i in range(0, count, 1000):
                        wd = b"".join(prefix(j) for j in range(i, min(i + 1000, count)))
                        s.sendall(update(withdrawn=wd))
                except OSError:
                    break
                withdrawn = True
                say("withdrawn", count)
        s.close()


if __name__ == "__main__":
    main()
