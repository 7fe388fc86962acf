#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile `vmm` for test_hostile_vmm.py: vmmd runs it (--vmm) as it runs
the real one (service/vm-run.c): fd 3 the listening API socket (vmmd's
connection waits in its backlog), fd 4 the event socket, fd 6 the
configuration. The guest's command line picks the misbehaviour
(hostile=MODE); without one it execs the real VMM ($FAKE_VMM_REAL), so the
same vmmd also runs well-behaved VMs.

Modes:
  spam        boots, then floods both sockets: thousands of event records a
              second, packets over 64 KiB, malformed JSON, non-objects,
              records of the wrong types, replies nobody asked for; answers
              requests correctly in between
  wrong-ids   boots, then answers every request with wrong or missing ids
              (so never answers it)
  hangup      boots, then closes both sockets in the middle of the first
              request and exits with status 3
  segv        boots, then kills itself with SIGSEGV at the first request
  early-exit  exits with status 255 before the VM boots
The usual Python interpreter path, not env: the VMM user may not reach a
developer's PATH.
"""
import json
import os
import re
import select
import signal
import socket
import sys
import time


def log(text):
    # vmmd quotes the log's last line in ExitReason.
    os.write(2, f"vmm: hostile: {text}\n".encode())


def record(event, source="vm", props=None):
    t = time.monotonic()
    return json.dumps({"timestamp": {"secs": int(t), "nanos": int(t % 1 * 1e9)}, "source": source,
                       "event": event, "properties": props}).encode()


def send(sock, data):
    """Non-blocking; a full socket (vmmd behind) drops the packet. Returns whether it went."""
    try:
        sock.send(data, socket.MSG_DONTWAIT)
        return True
    except (BlockingIOError, InterruptedError):
        return False


def reply(conn, req, result):
    conn.send(json.dumps({"id": req["id"], "result": result}).encode())


def answer(conn, ev, req):
    """What the real VMM answers (docs/api.md), enough for vmmd."""
    action = req.get("action")
    if action == "vm.info":
        reply(conn, req, {"pid": os.getpid(), "state": "Running"})
    elif action == "vmm.shutdown":
        reply(conn, req, None)
        ev.send(record("shutdown"))
        log("shut down on request")
        sys.exit(0)
    else:
        reply(conn, req, {})


# One packet of each kind vmmd must survive, sent between the records.
JUNK = [
    b"{" + b" " * (100 << 10) + b"}",  # over VMM_MAX_MESSAGE: dropped by size
    b"[" * 60000,  # nesting within the size limit
    b'{"source": "vm", "event": ',  # cut short
    b"\xff\xfe not json",
    b"[1, 2, 3]",
    b"null",
    b'{"source": 5, "event": ["x"]}',
    b'{"source": "hostile", "event": "x", "timestamp": "now", "properties": [1]}',
    b'{"source": "hostile", "event": "x", "properties": {' + b",".join(b'"k%d": %d' % (i, i) for i in range(500)) + b"}}",
    b"",
    # vCPU counts vmmd must not write into the definition: 0, above max_vcpus, past 32 bits, not numbers.
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": "0"}}',
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": "9"}}',
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": "4294967297"}}',
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": "-1"}}',
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": "1x"}}',
    b'{"source": "vm", "event": "resized", "properties": {"vcpus": 1}}',
    b'{"source": "vm", "event": "resized"}',
]
# On the API connection, replies to requests that were never made and events of the wrong shape.
API_JUNK = [
    b'{"id": 987654321, "result": {}}',
    b'{"id": "1", "result": {}}',
    b'{"id": -1, "error": {"code": 5}}',
    b'{"event": 5}',
    b'{"event": {"source": "hostile"}}',
    b'{"result": {"pid": 1}}',
] + JUNK


def spam(conn, ev):
    records = junk = dropped = 0
    started = time.monotonic()
    next_report = started + 1
    conn.setblocking(False)
    while True:
        # ~10,000 records a second in bursts, one junk packet per 20.
        for i in range(100):
            if send(ev, record(f"spam-{records}", source="hostile", props={"n": str(records)})):
                records += 1
            else:
                dropped += 1
            if i % 20 == 0:
                send(ev, JUNK[junk % len(JUNK)])
                send(conn, API_JUNK[junk % len(API_JUNK)])
                junk += 1
        r, _, _ = select.select([conn], [], [], 0.01)
        while r:
            try:
                data = conn.recv(1 << 16)
            except BlockingIOError:
                break
            if not data:
                sys.exit(0)
            conn.setblocking(True)
            answer(conn, ev, json.loads(data))
            conn.setblocking(False)
        now = time.monotonic()
        if now >= next_report:
            # The test reads the rate from the log.
            log(f"spam: {records} records, {junk} junk packets, {dropped} dropped in {now - started:.1f} s")
            next_report = now + 1


def wrong_ids(conn, ev):
    while True:
        data = conn.recv(1 << 16)
        if not data:
            sys.exit(0)
        req = json.loads(data)
        for bad in ({"id": req["id"] + 1000, "result": {}}, {"id": str(req["id"]), "result": {}},
                    {"id": -req["id"], "error": {"code": "Failed", "message": "no"}}, {"result": {}},
                    {"id": req["id"] * 1.5, "result": {}}):
            conn.send(json.dumps(bad).encode())


def main():
    cfg = json.loads(os.pread(6, 1 << 20, 0))
    m = re.search(r"hostile=([\w-]+)", cfg.get("payload", {}).get("cmdline", ""))
    if not m:
        # pread left fd 6's offset alone: the real VMM reads the configuration from the start.
        real = os.environ["FAKE_VMM_REAL"]
        os.execv(real, [real] + sys.argv[1:])
    mode = m.group(1)
    listener = socket.socket(fileno=3)
    ev = socket.socket(fileno=4)
    ev.send(record("starting", source="vmm"))
    if mode == "early-exit":
        log("refusing to boot")
        sys.exit(255)
    conn, _ = listener.accept()
    ev.send(record("booting"))
    ev.send(record("booted"))
    answer(conn, ev, json.loads(conn.recv(1 << 16)))  # vmmd's vm.info after vm/booted
    if mode == "spam":
        spam(conn, ev)
    elif mode == "wrong-ids":
        wrong_ids(conn, ev)
    elif mode in ("hangup", "segv"):
        conn.recv(1 << 16)
        if mode == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        conn.close()
        ev.close()
        log("hung up in the middle of a request")
        time.sleep(0.2)
        sys.exit(3)
    log(f"unknown mode {mode}")
    sys.exit(2)


if __name__ == "__main__":
    main()
