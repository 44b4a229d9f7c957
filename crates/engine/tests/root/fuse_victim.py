# Victim for the stalled-details scenario, run as nobody. Reading another process's
# /proc/PID/cmdline (or environ) takes that process's mmap lock (access_remote_vm), and
# the process controls that lock: one thread holds it for reading while it reads, through
# /proc/self/mem, a page of a file (argv[1]) on a FUSE file system that never answers;
# a second thread then asks for it for writing (mmap) and waits behind the first. Every
# later reader of the lock, such as a monitor reading the command line, waits behind the
# writer, for as long as the FUSE server likes. (Pointing the arguments themselves at
# such a file, with prctl(PR_SET_MM_MAP), does not work since Linux 4.17: cmdline is read
# with FOLL_ANON, never from a file mapping.)
#
# It prints "ready PID PORT" once the writer is started, waits for a byte on stdin, then
# sends 100-byte datagrams to 127.0.0.1:argv[2] every 20 ms from a socket made before. From
# the writer on, it allocates as good as nothing: growing its heap would need the lock too.
import ctypes, os, socket, sys, threading, time

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
PROT_READ, PROT_WRITE, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS = 1, 2, 1, 2, 0x20

# Everything the sending loop needs is made before the lock is taken.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
to = ("127.0.0.1", int(sys.argv[2]))
payload = b"v" * 100
ready = "ready %d %d\n" % (os.getpid(), s.getsockname()[1])
pause = 0.02
deadline = time.monotonic() + 60

fd = os.open(sys.argv[1], os.O_RDONLY)
page = libc.mmap(None, 4096, PROT_READ, MAP_SHARED, fd, 0)
if page is None or page == ctypes.c_void_p(-1).value:
    raise OSError(ctypes.get_errno(), "mmap")
mem = os.open("/proc/self/mem", os.O_RDONLY)

def waiting_in_kernel(tid):  # asleep, and not on a futex (the interpreter's lock)
    where = open("/proc/self/task/%d/wchan" % tid).read()
    return where not in ("", "0") and "futex" not in where

def blocked(thread):
    until = time.monotonic() + 10
    while thread.native_id is None or not waiting_in_kernel(thread.native_id):
        if time.monotonic() > until:
            raise SystemExit("thread never blocked")
        time.sleep(0.01)

# Both threads exist before the lock is taken: starting a thread maps its stack.
go_write = threading.Event()
def write():
    go_write.wait()
    libc.mmap(None, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
writer = threading.Thread(target=write, daemon=True)
writer.start()
holder = threading.Thread(target=lambda: os.pread(mem, 1, page), daemon=True)
holder.start()
blocked(holder)
ready = ready.encode()
go_write.set()
os.write(1, ready)
os.read(0, 1)
while time.monotonic() < deadline:
    s.sendto(payload, to)
    time.sleep(pause)
