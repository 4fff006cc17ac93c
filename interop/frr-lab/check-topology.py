#!/usr/bin/env python3
"""Checks that topology.clab.yml (containerlab) and demo-topology.txt (what demo.sh builds) name
the same nodes, the same links and the same interface addresses. Exits 1 listing every difference.

    python3 interop/frr-lab/check-topology.py [DEMO-TOPOLOGY CLAB-FILE]
"""
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ADDR = re.compile(r"^ip\s+(?:-\S+\s+)*addr(?:ess)?\s+add\s+(\S+)\s+dev\s+(\S+)")


def from_demo(path):
    nodes, links, addrs = set(), set(), set()
    for lineno, raw in enumerate(open(path), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[-1] == "vrf":
            words = words[:-1]
        kind, rest = words[0], words[1:]
        if kind == "node":
            nodes.add(rest[0])
        elif kind == "link":
            links.add(frozenset(rest[:2]))
        elif kind == "addr":
            addrs.add((rest[0], rest[1]))
        elif kind != "bridge":
            sys.exit(f"{path}:{lineno}: unknown line kind {kind!r}")
    return nodes, links, addrs


def from_clab(path):
    doc = yaml.safe_load(open(path))
    topo = doc["topology"]
    nodes = set(topo["nodes"])
    links = {frozenset(l["endpoints"]) for l in topo["links"]}
    addrs = set()
    for name, node in topo["nodes"].items():
        for cmd in (node or {}).get("exec", []):
            m = ADDR.match(cmd)
            if m:
                addrs.add((f"{name}:{m.group(2)}", m.group(1)))
    return nodes, links, addrs


def show(item):
    if isinstance(item, frozenset):
        return " <-> ".join(sorted(item))
    if isinstance(item, tuple):
        return " ".join(item)
    return item


def main():
    demo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "demo-topology.txt")
    clab = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "topology.clab.yml")
    d, c = from_demo(demo), from_clab(clab)
    bad = 0
    for what, a, b in zip(("node", "link", "address"), d, c):
        for x in sorted(map(show, a - b)):
            print(f"{what} {x}: in {os.path.basename(demo)}, not in {os.path.basename(clab)}")
            bad += 1
        for x in sorted(map(show, b - a)):
            print(f"{what} {x}: in {os.path.basename(clab)}, not in {os.path.basename(demo)}")
            bad += 1
    if bad:
        sys.exit(1)
    print(f"topology ok: {len(d[0])} nodes, {len(d[1])} links, {len(d[2])} addresses named alike "
          f"in {os.path.basename(demo)} and {os.path.basename(clab)}")


if __name__ == "__main__":
    main()
