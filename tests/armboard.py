"""An emulated aarch64 Debian board for tests: a real arm64 Debian root file system (debootstrap's
first stage, then its packages unpacked), the real aarch64 CPython and aarch64 onnxruntime/numpy wheels,
run by qemu-user. Nothing is registered with binfmt_misc machine-wide: the board's "python" is a
launcher that enters a private mount namespace, gives the root file system a tmpfs /sys holding only
the CPU count (onnxruntime's cpuinfo crashes on the host's /sys under qemu), binds /proc, /dev and the
harness's work directory at the same path, chroots, and executes the aarch64 Python through the static
qemu-aarch64. The root file system is built once per machine and cached as a zstd tarball.
Emulated timings are 100-400x slower: functional checks only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"]

LAUNCHER = r'''#!/usr/bin/python3
"""aarch64 python of the emulated board: private mounts, chroot, qemu-user (see tests/armboard.py)."""
import os, subprocess, sys
ROOT = %(root)r
WORK = %(work)r
def mount(*args):
    subprocess.run([%(mount)r] + list(args), check=True)
cwd = os.getcwd()
# private mounts (fails harmlessly where / is no mount point, e.g. inside a phone's chroot, whose own
# namespace is private already)
subprocess.run([%(mount)r, "--make-rprivate", "/"], stderr=subprocess.DEVNULL)
mount("-t", "tmpfs", "sys", ROOT + "/sys")
os.makedirs(ROOT + "/sys/devices/system/cpu")
for leaf in ("possible", "present", "online"):
    with open(ROOT + "/sys/devices/system/cpu/" + leaf, "w") as fh:
        fh.write("0-1\n")
for src in ("/proc", "/dev", WORK):
    os.makedirs(ROOT + src, exist_ok=True)
    mount("--rbind", src, ROOT + src)
os.chroot(ROOT)
os.chdir(cwd if cwd.startswith(WORK) else "/")
os.environ["PATH"] = "/usr/local/bin:/usr/bin:/bin"
os.execv("/usr/bin/qemu-aarch64-static", ["/usr/bin/qemu-aarch64-static", "/usr/bin/python3.11"] + sys.argv[1:])
'''


def available() -> bool:
    return all(shutil.which(t) for t in ("debootstrap", "qemu-aarch64-static", "zstd", "unshare", "dpkg-deb"))


def recipe_key() -> str:
    """The root file system's recipe, hashed: the suite, mirror, wheel platforms and the build steps themselves.
    A changed recipe builds a new tarball; an unchanged one is reused by every later run on the machine."""
    import hashlib
    import inspect

    text = "\n".join([SUITE, MIRROR] + PLATFORMS + [inspect.getsource(build_rootfs)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_rootfs(cache: Path, rootfs: Path) -> Path:
    """The arm64 root file system at ``rootfs``, unpacked from the cached tarball (built if absent; the tarball
    is named by the recipe's hash, so it is built once per machine and recipe)."""
    tarball = cache / ("arm64-rootfs-%s-%s.tar.zst" % (SUITE, recipe_key()))
    for old in cache.glob("arm64-rootfs-*.tar.zst") if cache.is_dir() else []:
        if old != tarball:
            old.unlink()  # another recipe's: ~105 MiB that will not be used again
    if not tarball.exists():
        build = cache / "arm64-build"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        subprocess.run(["debootstrap", "--arch=arm64", "--variant=minbase", "--foreign", "--include=python3",
                        SUITE, str(build), MIRROR], check=True, capture_output=True)
        for deb in sorted((build / "var/cache/apt/archives").glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(build)], check=True)
        shutil.rmtree(build / "var/cache/apt/archives", ignore_errors=True)
        wheels = cache / "arm64-wheels"
        plat = sum((["--platform", p] for p in PLATFORMS), [])
        common = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"] + plat
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels)] + common +
                       ["onnxruntime", "numpy"], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
                        "--target", str(build / "usr/local/lib/python3.11/dist-packages")] + common +
                       ["onnxruntime", "numpy"], check=True, capture_output=True)
        shutil.copy2(shutil.which("qemu-aarch64-static"), build / "usr/bin/qemu-aarch64-static")
        subprocess.run(["tar", "--zstd", "-cf", str(tarball), "-C", str(build), "."], check=True)
        shutil.rmtree(build, ignore_errors=True)
    rootfs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--zstd", "-xf", str(tarball), "-C", str(rootfs)], check=True)
    return rootfs


def make_python(rootfs: Path, work: Path, where: Path) -> Path:
    """The board's python: unshare a mount namespace (needs root), then the launcher above."""
    launcher = where / "arm64-launcher.py"
    launcher.write_text(LAUNCHER % {"root": str(rootfs), "work": str(work), "mount": shutil.which("mount")})
    wrapper = where / "arm64-python"
    # absolute paths: the caller may be a phone's shell, whose PATH and / have no /bin
    wrapper.write_text("#!%s\nexec %s --mount --propagation unchanged -- /usr/bin/python3 %s \"$@\"\n"
                       % (shutil.which("sh"), shutil.which("unshare"), launcher))
    wrapper.chmod(0o755)
    return wrapper
