# SPDX-License-Identifier: Apache-2.0
"""A minimal D-Bus client speaking the wire protocol itself (Python stdlib only).

The hostile suite needs what the usual bindings refuse to do: send any
signature with any arguments, leave out the interface field, pipeline
hundreds of calls without reading, never read signals at all, and hang up
in the middle of a call. Only what that needs is here: SASL EXTERNAL, Hello,
marshalling of every basic and container type, and reading replies.
"""
import os
import select
import socket
import struct
import time

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
NO_REPLY_EXPECTED = 0x1
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR_NAME, F_REPLY_SERIAL, F_DESTINATION, F_SENDER, F_SIGNATURE = range(1, 9)

ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "s": 4, "o": 4, "g": 1,
         "a": 4, "(": 8, "{": 8, "v": 1, "h": 4}
FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d", "h": "I"}


class BusError(Exception):
    pass


def split_types(sig):
    """'sa{sv}(ii)' -> ['s', 'a{sv}', '(ii)']"""
    out, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _type_end(sig, i):
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        i += 1
        while sig[i] != close:
            i = _type_end(sig, i)
        return i + 1
    return i + 1


def _pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def marshal(buf, t, v):
    c = t[0]
    _pad(buf, ALIGN[c])
    if c in FIXED:
        buf.extend(struct.pack("<" + FIXED[c], int(bool(v)) if c == "b" else v))
    elif c in "so":
        b = v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
        buf.extend(struct.pack("<I", len(b)) + b + b"\0")
    elif c == "g":
        b = v.encode()
        buf.extend(bytes([len(b)]) + b + b"\0")
    elif c == "v":
        sig, val = v
        marshal(buf, "g", sig)
        marshal(buf, sig, val)
    elif c == "a":
        at = len(buf)
        buf.extend(b"\0\0\0\0")
        _pad(buf, ALIGN[t[1]])
        start = len(buf)
        items = v.items() if isinstance(v, dict) else v
        for item in items:
            marshal(buf, t[1:], item)
        struct.pack_into("<I", buf, at, len(buf) - start)
    elif c in "({":
        for sub, val in zip(split_types(t[1:-1]), v):
            marshal(buf, sub, val)
    else:
        raise ValueError(f"type {t}")


def unmarshal(data, pos, t):
    c = t[0]
    pos += -pos % ALIGN[c]
    if c in FIXED:
        fmt = "<" + FIXED[c]
        (v,) = struct.unpack_from(fmt, data, pos)
        return (bool(v) if c == "b" else v), pos + struct.calcsize(fmt)
    if c in "so":
        (n,) = struct.unpack_from("<I", data, pos)
        return data[pos + 4:pos + 4 + n].decode("utf-8", "replace"), pos + 5 + n
    if c == "g":
        n = data[pos]
        return data[pos + 1:pos + 1 + n].decode(), pos + 2 + n
    if c == "v":
        sig, pos = unmarshal(data, pos, "g")
        return unmarshal(data, pos, sig)
    if c == "a":
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        pos += -pos % ALIGN[t[1]]
        end, items = pos + n, []
        while pos < end:
            v, pos = unmarshal(data, pos, t[1:])
            items.append(v)
        return (dict(items) if t[1] == "{" else items), pos
    if c in "({":
        out = []
        for sub in split_types(t[1:-1]):
            v, pos = unmarshal(data, pos, sub)
            out.append(v)
        return tuple(out), pos
    raise ValueError(f"type {t}")


def build_message(mtype, serial, fields, sig="", args=(), flags=0):
    body = bytearray()
    for t, v in zip(split_types(sig), args):
        marshal(body, t, v)
    if sig:
        fields = list(fields) + [(F_SIGNATURE, ("g", sig))]
    hdr = bytearray()
    for t, v in (("y", ord("l")), ("y", mtype), ("y", flags), ("y", 1), ("u", len(body)), ("u", serial),
                 ("a(yv)", fields)):
        marshal(hdr, t, v)
    _pad(hdr, 8)
    return bytes(hdr + body)


class Message:
    def __init__(self, data):
        self.type = data[1]
        self.flags = data[2]
        (body_len, self.serial) = struct.unpack_from("<II", data, 4)
        fields, pos = unmarshal(data, 12, "a(yv)")
        self.fields = dict(fields)
        pos += -pos % 8
        self.signature = self.fields.get(F_SIGNATURE, "")
        self.body = []
        for t in split_types(self.signature):
            v, pos = unmarshal(data, pos, t)
            self.body.append(v)

    @property
    def error(self):
        return self.fields.get(F_ERROR_NAME) if self.type == ERROR else None

    @property
    def reply_serial(self):
        return self.fields.get(F_REPLY_SERIAL)

    @property
    def member(self):
        return self.fields.get(F_MEMBER)

    def text(self):
        return self.body[0] if self.body and isinstance(self.body[0], str) else ""


class Connection:
    """One bus connection. Not thread-safe: one per thread."""

    def __init__(self, address, rcvbuf=None):
        path = address.split("unix:path=", 1)[1].split(",", 1)[0]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
        if not self._auth_line().startswith(b"OK "):
            raise BusError("authentication refused")
        # Agreed so that replies carrying descriptors (OpenConsole) reach us;
        # recv() without room for them makes the kernel close them.
        self.sock.sendall(b"NEGOTIATE_UNIX_FD\r\n")
        self._auth_line()
        self.sock.sendall(b"BEGIN\r\n")
        self.buf = bytearray()
        self.replies = {}
        self.next_serial = 1
        self.unique_name = self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                                     dest="org.freedesktop.DBus").body[0]

    def _auth_line(self):
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise BusError("the bus closed the connection during authentication")
            line += chunk
        return line

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, path, iface, member, sig="", args=(), dest=None, flags=0, mtype=METHOD_CALL):
        """Sends a method call (or, with mtype, anything); returns its serial."""
        fields = [(F_PATH, ("o", path)), (F_MEMBER, ("s", member))]
        if iface is not None:
            fields.append((F_INTERFACE, ("s", iface)))
        if dest is not None:
            fields.append((F_DESTINATION, ("s", dest)))
        serial = self.next_serial
        self.next_serial += 1
        self.sock.sendall(build_message(mtype, serial, fields, sig, args, flags))
        return serial

    def read_message(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 16:
                body_len, = struct.unpack_from("<I", self.buf, 4)
                fields_len, = struct.unpack_from("<I", self.buf, 12)
                total = 16 + fields_len + (-(16 + fields_len) % 8) + body_len
                if len(self.buf) >= total:
                    data = bytes(self.buf[:total])
                    del self.buf[:total]
                    return Message(data)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise BusError("the bus closed the connection")
            self.buf.extend(chunk)

    def wait_reply(self, serial, timeout):
        """The reply to serial; replies to other calls that come first are
        kept for their own wait_reply(), signals are dropped."""
        deadline = time.monotonic() + timeout
        while serial not in self.replies:
            m = self.read_message(max(0.0, deadline - time.monotonic()))
            if m is None:
                return None
            if m.type in (METHOD_RETURN, ERROR):
                self.replies[m.reply_serial] = m
        return self.replies.pop(serial)

    def call(self, path, iface, member, sig="", args=(), dest="org.vmm.Manager", timeout=30):
        """The reply (a Message, .error set for errors); BusError when none comes in time."""
        serial = self.send(path, iface, member, sig, args, dest)
        m = self.wait_reply(serial, timeout)
        if m is None:
            raise BusError(f"no reply to {iface}.{member} on {path} within {timeout} s")
        return m
