# Test peer for Sockeye's root integration tests: one role per invocation, prints
# "ready PID PORT" once listening and "conn PID LOCALPORT" per connection it makes.
import os, socket, sys, time

def out(*words):
    print(*words, flush=True)

def read_until_quiet(s):  # the first packet within 5 s, then until 1 s of silence
    s.settimeout(5)
    try:
        s.recv(65536)
        s.settimeout(1)
        while True:
            s.recv(65536)
    except socket.timeout:
        pass

mode, host = sys.argv[1], sys.argv[2]
args = [int(a) for a in sys.argv[3:]] if mode != "tun-relay" else sys.argv[3:]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
deadline = time.monotonic() + 20
ANY = "::" if family == socket.AF_INET6 else "0.0.0.0"

def short_exchange(s, port, count, size, connected):  # udp-short's datagrams, each answered
    s.settimeout(5)
    if connected:
        s.connect((host, port))
    for i in range(count):
        if connected:
            s.send(b"q" * size)
        else:
            s.sendto(b"q" * size, (host, port))
        if i == 0:
            out("conn", os.getpid(), s.getsockname()[1])
        s.recv(65536)

if mode == "tcp-server":  # COUNT REPLY: accept COUNT connections, read to EOF, answer REPLY bytes
    count, reply = args
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(128)
    s.settimeout(20)
    out("ready", os.getpid(), s.getsockname()[1])
    for _ in range(count):
        c, _ = s.accept()
        c.settimeout(20)
        while c.recv(65536):
            pass
        if reply:
            c.sendall(b"r" * reply)
        c.close()
elif mode == "tcp-client":  # PORT SEND CONNECTIONS: each sends SEND bytes, reads the answer
    port, send, connections = args
    for _ in range(connections):
        c = socket.socket(family, socket.SOCK_STREAM)
        c.settimeout(20)
        c.connect((host, port))
        out("conn", os.getpid(), c.getsockname()[1])
        c.sendall(b"s" * send)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
        c.close()
elif mode == "tcp-stream":  # PORT MBPS: a steady transfer at MBPS megabytes a second in 64 KiB writes, until killed
    port, mbps = args
    c = socket.socket(family, socket.SOCK_STREAM)
    c.connect((host, port))
    out("conn", os.getpid(), c.getsockname()[1])
    chunk, start, sent = b"t" * 65536, time.monotonic(), 0
    while True:
        c.sendall(chunk)
        sent += len(chunk)
        ahead = sent / (mbps * 1e6) - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
elif mode == "udp-server":  # COUNT: answer each of COUNT datagrams with half its size
    (count,) = args
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(20)
    out("ready", os.getpid(), s.getsockname()[1])
    for _ in range(count):
        data, peer = s.recvfrom(65536)
        s.sendto(b"a" * max(1, len(data) // 2), peer)
elif mode == "udp-client":  # PORT COUNT SIZE CONNECTED: COUNT datagrams, waits for each answer
    port, count, size, connected = args
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(5)
    if connected:
        s.connect((host, port))
    else:
        s.bind((host, 0))
    out("conn", os.getpid(), s.getsockname()[1])
    for _ in range(count):
        if connected:
            s.send(b"u" * size)
        else:
            s.sendto(b"u" * size, (host, port))
        s.recv(65536)
elif mode == "udp-short":  # PORT COUNT SIZE CONNECTED [AVOID...]: as a DNS client does: a socket on no address and an ephemeral port (not one of AVOID), COUNT datagrams each answered, then exit
    port, count, size, connected, *avoid = args
    while True:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((ANY, 0))
        if s.getsockname()[1] not in avoid:
            break
        s.close()
    short_exchange(s, port, count, size, connected)
elif mode == "udp-short-at":  # LOCALPORT PORT COUNT SIZE CONNECTED: udp-short from a given local port (on no address)
    local_port, port, count, size, connected = args
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((ANY, local_port))
    short_exchange(s, port, count, size, connected)
elif mode == "udp-sink":  # reads until 1 s of silence
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((host, 0))
    out("ready", os.getpid(), s.getsockname()[1])
    read_until_quiet(s)
elif mode == "udp-flood":  # PORT COUNT SIZE: COUNT datagrams as fast as possible, no answers
    port, count, size = args
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, port))
    out("conn", os.getpid(), s.getsockname()[1])
    payload = b"f" * size
    for _ in range(count):
        s.send(payload)
elif mode == "raw-sink":  # PROTOCOL: a raw socket of IP protocol PROTOCOL bound to HOST, reads until 1 s of silence
    (protocol,) = args
    s = socket.socket(family, socket.SOCK_RAW, protocol)
    s.bind((host, 0))
    out("ready", os.getpid(), protocol)
    read_until_quiet(s)
elif mode == "raw-send":  # PROTOCOL COUNT SIZE: from 127.0.0.1 to HOST, COUNT packets of SIZE payload bytes
    protocol, count, size = args
    s = socket.socket(family, socket.SOCK_RAW, protocol)
    s.bind(("127.0.0.1", 0))
    s.connect((host, 0))
    out("conn", os.getpid(), protocol)
    payload = b"w" * size
    for _ in range(count):
        s.send(payload)
        time.sleep(0.002)
elif mode == "spoof-flood":  # SECONDS: UDP to HOST:9 from random sources of HOST's /24, random ports
    (seconds,) = args
    import random, struct
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    net = socket.inet_aton(host)[:3]
    out("ready", os.getpid(), 9)
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for _ in range(256):
            src = net + bytes([random.randint(3, 254)])
            udp = struct.pack("!HHHH", random.randint(1024, 65535), 9, 8 + 4, 0) + b"spof"
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src,
                             socket.inet_aton(host))
            s.sendto(ip + udp, (host, 0))
elif mode == "tun-relay":  # PORT PEER TUN: a userspace VPN: packets of tun device TUN go in UDP from HOST:PORT to PEER:PORT and back, until killed
    import fcntl, select, struct
    port, peer, name = int(args[0]), args[1], args[2]
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((host, port))
    s.connect((peer, port))
    out("ready", os.getpid(), port)
    while True:
        readable, _, _ = select.select([tun, s], [], [])
        try:
            if tun in readable:
                s.send(os.read(tun, 65536))
            if s in readable:
                os.write(tun, s.recv(65536))
        except ConnectionRefusedError:  # the peer's relay was not up yet
            pass
else:
    sys.exit("unknown mode " + mode)
