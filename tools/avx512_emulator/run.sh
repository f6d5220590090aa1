#!/usr/bin/env bash
# Runs a statically linked x86-64 Linux program on an emulated CPU with AVX-512 (F/BW/VL/...),
# AVX512_VNNI and AVX-VNNI: Debian's Linux kernel booted in the Bochs emulator, our program as
# the initramfs's only program. Prints the program's stdout/stderr and exits with its exit code.
# See README.md in this folder for why and how.
#
#   tools/avx512_emulator/run.sh [options] <static-binary> [args...]
#
# Options (before the binary):
#   --timeout SECS   give up after SECS seconds of wall time (default 3600; exit code 124)
#   --cpu MODEL      Bochs CPU model (default sapphire_rapids; tigerlake and corei7_icelake_u
#                    also have AVX512_VNNI but no AVX-VNNI)
#   --mem MB         guest memory (default 1024)
#   --env KEY=VALUE  environment variable for the program (repeatable); RUST_BACKTRACE and
#                    RUST_TEST_THREADS are passed through from the caller
#   --keep           keep the work directory (serial log, Bochs log) and print its path
#   --debian-bochs   use Debian's bochs package (2.7) instead of building Bochs 3.0: no AVX-VNNI
#                    (VEX), slower boot, default CPU tigerlake (see README)
#
# Environment: AVX512_EMU_CACHE (cache folder, default $XDG_CACHE_HOME/mobilenet-avx512-emulator),
# AVX512_EMU_BOCHS (a Bochs >= 3.0 binary to use instead of building one), AVX512_EMU_BOCHS_SRC
# (a Bochs source tree, the folder holding bochs/configure, to build instead of downloading).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${AVX512_EMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mobilenet-avx512-emulator}
bochs_version=3.0
bochs_tag=REL_3_0_FINAL

timeout=3600 cpu= mem=1024 keep=0 debian=${AVX512_EMU_DEBIAN_BOCHS:-0}
envs=()
while (($#)); do
    case $1 in
        --timeout) timeout=$2; shift 2 ;;
        --cpu) cpu=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --env) envs+=("$2"); shift 2 ;;
        --keep) keep=1; shift ;;
        --debian-bochs) debian=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if (($# < 1)); then
    echo "usage: $0 [--timeout SECS] [--cpu MODEL] [--mem MB] [--env K=V] [--keep] <static-binary> [args...]" >&2
    exit 2
fi
binary=$1; shift
[[ -f $binary ]] || { echo "run.sh: no such file: $binary" >&2; exit 2; }
for v in RUST_BACKTRACE RUST_TEST_THREADS RUST_LOG; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
done

log() { echo "avx512-emulator: $*" >&2; }
if ((debian)); then
    cpu=${cpu:-tigerlake}
    bochs=/usr/bin/bochs
else
    cpu=${cpu:-sapphire_rapids}
    bochs=${AVX512_EMU_BOCHS:-$cache/bochs-$bochs_version/bin/bochs}
fi

# --- host packages (Debian/Ubuntu) -------------------------------------------------------------
need=()
[[ -f /usr/lib/ISOLINUX/isolinux.bin ]] || need+=(isolinux)
[[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ]] || need+=(syslinux-common)
[[ -f /usr/share/bochs/BIOS-bochs-latest ]] || need+=(bochsbios)
[[ -f /usr/share/vgabios/vgabios.bin ]] || need+=(vgabios)
command -v xorriso >/dev/null || need+=(xorriso)
command -v cpio >/dev/null || need+=(cpio)
command -v gcc >/dev/null || need+=(gcc)
[[ -f /usr/include/stdio.h ]] || need+=(libc6-dev)
((debian)) && { command -v bochs >/dev/null || need+=(bochs); }
if ((!debian)) && [[ ! -x $bochs ]]; then
    command -v g++ >/dev/null || need+=(g++)
    command -v make >/dev/null || need+=(make)
    command -v curl >/dev/null || need+=(curl)
fi
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${need[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
    else
        log "needs these Debian packages: sudo apt-get install ${need[*]}"
        exit 2
    fi
fi
mkdir -p "$cache"

# --- Bochs 3.0, built once (Debian's 2.7 lacks AVX-VNNI and boots slower, see README) ------------
if [[ ! -x $bochs ]]; then
    log "building Bochs $bochs_version into $cache/bochs-$bochs_version (once, a few minutes)"
    src=$(mktemp -d)
    if [[ -n ${AVX512_EMU_BOCHS_SRC:-} ]]; then
        # A Bochs checkout or unpacked release (the folder holding bochs/configure).
        cp -r "$AVX512_EMU_BOCHS_SRC"/. "$src/"
    else
        url="https://github.com/bochs-emu/Bochs/archive/refs/tags/$bochs_tag.tar.gz"
        curl -fsSL "$url" -o "$src/bochs.tar.gz" || {
            log "cannot download $url: set AVX512_EMU_BOCHS_SRC to a Bochs source tree, or use" \
                "--debian-bochs (Debian's package: AVX-512 VNNI, no AVX-VNNI)"
            rm -rf "$src"
            exit 2
        }
        tar -xzf "$src/bochs.tar.gz" -C "$src" --strip-components=1
    fi
    (
        cd "$src/bochs"
        ./configure --prefix="$cache/bochs-$bochs_version" --enable-x86-64 --enable-cpu-level=6 \
            --enable-avx --enable-evex --enable-all-optimizations --enable-pci --enable-cdrom \
            --with-nogui --without-x11 --without-x --disable-debugger --disable-docbook >"$src/configure.log" 2>&1 ||
            { tail -20 "$src/configure.log" >&2; exit 1; }
        nice make -j"$(nproc)" >"$src/make.log" 2>&1 || { tail -30 "$src/make.log" >&2; exit 1; }
        mkdir -p "$cache/bochs-$bochs_version/bin"
        cp bochs "$cache/bochs-$bochs_version/bin/bochs"
    )
    rm -rf "$src"
fi

# --- kernel: Debian's generic amd64 kernel, extracted from the package (not installed) -------------
kernel=$(ls "$cache"/vmlinuz-* 2>/dev/null | head -1 || true)
if [[ -z $kernel ]]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [[ -n $pkg ]] || { log "cannot resolve linux-image-amd64 (apt-get update?)"; exit 2; }
    log "downloading $pkg"
    tmp=$(mktemp -d)
    chmod 777 "$tmp"
    (cd "$tmp" && apt-get download -q "$pkg" >&2)
    dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
    cp "$tmp"/boot/vmlinuz-* "$cache/"
    rm -rf "$tmp"
    kernel=$(ls "$cache"/vmlinuz-* | head -1)
fi

# --- PID 1 -------------------------------------------------------------------------------------
init=$cache/init
if [[ ! -x $init || $here/init.c -nt $init ]]; then
    gcc -O2 -static -Wall -o "$init" "$here/init.c"
fi

# --- the boot CD: isolinux + kernel + initramfs {init, payload, payload.args, payload.env} -----
work=$(mktemp -d "${TMPDIR:-/tmp}/avx512-emu.XXXXXX")
bochs_pid=
cleanup() {
    [[ -n $bochs_pid ]] && kill "$bochs_pid" 2>/dev/null || true
    if ((keep)); then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/root" "$work/iso/isolinux"
cp "$init" "$work/root/init"
cp "$binary" "$work/root/payload"
chmod 755 "$work/root/payload"
: >"$work/root/payload.args"
for a in "$@"; do printf '%s\0' "$a" >>"$work/root/payload.args"; done
: >"$work/root/payload.env"
for e in "${envs[@]+"${envs[@]}"}"; do printf '%s\n' "$e" >>"$work/root/payload.env"; done
(cd "$work/root" && find . | cpio -o -H newc --owner=0:0 --quiet) >"$work/iso/isolinux/initrd.img"
cp "$kernel" "$work/iso/isolinux/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$work/iso/isolinux/"
# Kernel arguments, each for a reason (README): no5lvl (Bochs' SMM code panics on CR4.LA57),
# clearcpuid=fsrm (with FSRM the 6.1 kernel corrupts memory early in boot under Bochs),
# panic=0 (a panic must not reboot into a second run), quiet console otherwise. Bochs 2.7 also
# misreports the XSAVE sizes for PKRU and the compacted format (the kernel would turn AVX off).
kargs="console=ttyS0,115200 loglevel=3 mitigations=off nokaslr no5lvl rdinit=/init panic=0"
if ((debian)); then kargs+=" clearcpuid=fsrm,pku,xsaves,xsavec"; else kargs+=" clearcpuid=fsrm"; fi
cat >"$work/iso/isolinux/isolinux.cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND $kargs
EOF
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$work/iso" 2>/dev/null

sed -e "s|@CPU@|$cpu|" -e "s|@MEM@|$mem|" -e "s|@WORK@|$work|g" "$here/bochsrc.in" >"$work/bochsrc"
bochs_args=(-q -f "$work/bochsrc")
if ((debian)); then
    # Debian's build has no nogui display (rfb listens on a TCP port from 5900, without waiting
    # for a client) and starts in its debugger: "c" continues.
    sed -i 's|^display_library:.*|display_library: rfb, options="timeout=0"|' "$work/bochsrc"
    printf 'c\nquit\n' >"$work/debugger.rc"
    bochs_args+=(-rc "$work/debugger.rc")
fi

# --- run -----------------------------------------------------------------------------------------
start=$(date +%s)
(cd "$work" && exec "$bochs" "${bochs_args[@]}" >"$work/bochs.out" 2>&1 </dev/null) &
bochs_pid=$!
: >"$work/serial.log"
# Print what the program writes: everything between the markers init prints, without the CRs.
shown=0 status= booted=
while :; do
    if [[ -s $work/serial.log ]]; then
        total=$(wc -l <"$work/serial.log")
        if ((total > shown)); then
            chunk=$(sed -n "$((shown + 1)),${total}p" "$work/serial.log" | tr -d '\r')
            shown=$total
            while IFS= read -r line; do
                if [[ $line == '@@AVX512EMU-START@@' ]]; then
                    booted=$(($(date +%s) - start)); log "booted in ${booted}s"; continue
                fi
                if [[ $line =~ ^@@AVX512EMU-EXIT=([0-9]+)@@$ ]]; then status=${BASH_REMATCH[1]}; break; fi
                [[ -n $booted ]] && printf '%s\n' "$line"
                if [[ $line == *'Kernel panic'* ]]; then log "guest kernel panic: $line"; status=125; break; fi
            done <<<"$chunk"
        fi
    fi
    [[ -n $status ]] && break
    if ! kill -0 "$bochs_pid" 2>/dev/null; then
        sleep 1
        [[ -n $(tr -d '\r' <"$work/serial.log" | grep -o '@@AVX512EMU-EXIT=[0-9]*@@' || true) ]] && continue
        log "Bochs ended before the program did; last lines of its output:"
        grep -E '>>PANIC<<|Bochs is exiting|message' "$work/bochs.out" "$work/bochs.log" 2>/dev/null | tail -5 >&2 || true
        tr -d '\r' <"$work/serial.log" | tail -20 >&2
        status=125; break
    fi
    if (($(date +%s) - start >= timeout)); then
        log "timeout after ${timeout}s; last lines of the serial console:"
        tr -d '\r' <"$work/serial.log" | tail -20 >&2
        status=124; break
    fi
    sleep 1
done
# The guest powers off via ACPI (Bochs then quits); give it a moment, then stop it anyway.
for _ in 1 2 3 4 5; do kill -0 "$bochs_pid" 2>/dev/null || break; sleep 1; done
kill "$bochs_pid" 2>/dev/null || true
wait "$bochs_pid" 2>/dev/null || true
bochs_pid=
log "exit code $status after $(($(date +%s) - start))s"
exit "$status"
