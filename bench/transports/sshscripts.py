"""The small Python programs the SSH transport runs on the device with its Python (3.8+, standard
library only), passed with ``python -c``: the device's login shell may be dash or busybox sh, so nothing
here depends on a shell's built-ins."""

#: Run argv[1:] as the leader of a new process group, recording its pid in ./agent.pid.
#: (sshd may already have made it a session leader, which is a group leader too: setsid then fails.)
SETSID = ("import os,sys\ntry:\n os.setsid()\nexcept OSError:\n pass\n"
          "f=open('agent.pid','w'); f.write(str(os.getpgrp())); f.close(); os.execvp(sys.argv[1], sys.argv[1:])")
HASHES = ("import hashlib,json,sys\nout={}\nfor p in sys.argv[1:]:\n try:\n  h=hashlib.sha256()\n"
          "  f=open(p,'rb')\n  b=f.read(1<<20)\n  while b:\n   h.update(b)\n   b=f.read(1<<20)\n  f.close()\n"
          "  out[p]=h.hexdigest()\n except (IOError,OSError):\n  out[p]=None\nprint(json.dumps(out))")
#: Kill the process group named in the file argv[1] (agent.pid) and wait up to 5 s for it to be gone: exit 0
#: when it is (or there never was one), 1 when it is still there. Zombies count as gone (on Linux, from
#: /proc; elsewhere kill(0) decides). Python, not the login shell: dash's ``kill`` refuses ``--`` (so
#: ``kill -KILL -- -PGID`` silently kills nothing there) and shells differ.
KILL = """import errno,os,signal,sys,time
try:
 pg=int(open(sys.argv[1]).read().strip())
except (IOError,OSError,ValueError):
 sys.exit(0)
def alive():
 if os.path.isdir('/proc/self'):
  for d in os.listdir('/proc'):
   try:
    f=open('/proc/'+d+'/stat'); x=f.read().rsplit(')',1)[1].split(); f.close()
   except (IOError,OSError,IndexError):
    continue
   if x[0] not in 'ZX' and int(x[2])==pg:
    return True
  return False
 try:
  os.killpg(pg,0)
 except OSError as e:
  return e.errno!=errno.ESRCH
 return True
try:
 os.killpg(pg,signal.SIGKILL)
except OSError as e:
 if e.errno!=errno.ESRCH:
  sys.exit(1)
end=time.time()+5
while alive():
 if time.time()>end:
  sys.exit(1)
 time.sleep(0.1)
"""
#: After a failed push: free bytes for unprivileged users on the disk of argv[1] (-1 if unknown), the size
#: of the partial file argv[2], which is then removed; printed as two numbers.
FREE_SPACE = """import os,sys
try:
 s=os.statvfs(sys.argv[1]); free=s.f_bavail*s.f_frsize
except OSError:
 free=-1
try:
 part=os.path.getsize(sys.argv[2]); os.remove(sys.argv[2])
except OSError:
 part=0
print('%d %d' % (free, part))
"""
