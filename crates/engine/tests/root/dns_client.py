# DNS test client for the root scenario dns_names.rs: asks a DNS server itself (no system
# resolver), so that this very process receives the answer, then connects where it said.
#   resolve-connect SERVER NAME QTYPE PORT SEND: prints "resolved PID ADDR..." then connects
#       to the first address on PORT (TCP), sends SEND bytes, reads to EOF, prints "done"
#   bulk SERVER COUNT [RATE]: resolves COUNT distinct names h-10-231-X-Y.bulk.sockeye.test,
#       at most RATE a second when given, prints "done PID ANSWERS"
import os, socket, struct, sys, time

def out(*words):
    print(*words, flush=True)

def query(server, name, qtype, ident=0x5eed, keep=None):
    q = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(q, (server, 53))
    # The answer to this query: same id and question. The ephemeral port may be one an
    # earlier client of the test had, and a late or repeated answer to it may still come.
    while True:
        reply = s.recv(4096)
        if reply[:2] == q[:2] and reply[12:len(q)] == q[12:]:
            break
    if keep is None:
        s.close()
    else:
        keep.append(s)
    return reply

def skip_name(m, at):
    while True:
        n = m[at]
        if n >= 0xC0:
            return at + 2
        if n == 0:
            return at + 1
        at += n + 1

def addresses(m):
    answers = struct.unpack(">H", m[6:8])[0]
    at = skip_name(m, 12) + 4
    found = []
    for _ in range(answers):
        at = skip_name(m, at)
        rtype, _, _, length = struct.unpack(">HHIH", m[at:at + 10])
        data = m[at + 10:at + 10 + length]
        if rtype == 1:
            found.append(socket.inet_ntop(socket.AF_INET, data))
        elif rtype == 28:
            found.append(socket.inet_ntop(socket.AF_INET6, data))
        at += 10 + length
    return found

mode, server = sys.argv[1], sys.argv[2]
if mode == "resolve-connect":
    name, qtype, port, send = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    # The query's socket stays open until the connection is done, so the engine can name
    # the process that asked even when its lookup runs a few milliseconds late (a socket
    # closed by then leaves the asker unknown; issue 14, item 2 covers that case).
    kept = []
    found = addresses(query(server, name, qtype, keep=kept))
    out("resolved", os.getpid(), *found)
    family = socket.AF_INET6 if ":" in found[0] else socket.AF_INET
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect((found[0], port))
    c.sendall(b"s" * send)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()
    for s in kept:
        s.close()
    out("done")
elif mode == "bulk":
    count = int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0
    answered, start = 0, time.monotonic()
    for i in range(count):
        if rate:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        name = "h-10-231-%d-%d.bulk.sockeye.test" % (128 + i // 256, i % 256)
        if addresses(query(server, name, 1, i & 0xFFFF)):
            answered += 1
    out("done", os.getpid(), answered)
