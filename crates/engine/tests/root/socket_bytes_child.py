# A process that moves an exact payload through one socket: it sends N bytes to the
# test's server, then reads M bytes back, reports what it read and exits.
# Usage: socket_bytes_child.py tcp|udp HOST PORT N M
import socket
import sys

proto, host, port, n, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
# A lost datagram fails the exchange (the test sees a short report) instead of hanging it.
s.settimeout(30)
s.connect((host, port))
sent = 0
while sent < n:
    chunk = min(1000, n - sent)
    s.sendall(b"x" * chunk)
    sent += chunk
got = 0
while got < m:
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    if not data:
        break
    got += len(data)
print(sent, got, flush=True)
