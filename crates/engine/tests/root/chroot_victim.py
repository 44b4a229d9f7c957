# Victim for the stalled-details scenario, run as nobody: in a user namespace of its own
# (no privilege needed) it makes its root a directory (argv[1]) on a FUSE file system
# that never answers a lookup, so whoever looks up /proc/PID/root/.flatpak-info waits
# for as long as the FUSE server likes. Prints "ready PID PORT", waits for a byte on
# stdin, then sends 100-byte datagrams to 127.0.0.1:argv[2] every 20 ms.
import ctypes, os, socket, sys, time

CLONE_NEWUSER = 0x10000000
libc = ctypes.CDLL(None, use_errno=True)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
to = ("127.0.0.1", int(sys.argv[2]))
if libc.unshare(CLONE_NEWUSER) != 0:
    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
os.chroot(sys.argv[1])
os.write(1, b"ready %d %d\n" % (os.getpid(), s.getsockname()[1]))
os.read(0, 1)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    s.sendto(b"v" * 100, to)
    time.sleep(0.02)
