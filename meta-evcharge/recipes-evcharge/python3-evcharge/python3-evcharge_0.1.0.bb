# nooelint: oelint.var.mandatoryvar.HOMEPAGE - evcharge has no published project page yet; set HOMEPAGE when it has
SUMMARY = "evcharge charging services, one package per service, and evchargectl"
SUMMARY:${PN}-common = "evcharge shared base library, evcharge.target and service users"
SUMMARY:${PN}-board = "evcharge board service (org.evcharge.Board1)"
SUMMARY:${PN}-evse = "evcharge EVSE session manager (org.evcharge.Evse1)"
SUMMARY:${PN}-meter = "evcharge meter service (org.evcharge.Meter1)"
SUMMARY:${PN}-auth = "evcharge authorization service (org.evcharge.Auth1)"
SUMMARY:${PN}-energy = "evcharge energy manager (org.evcharge.Energy1)"
SUMMARY:${PN}-cli = "evchargectl command line tool"
SUMMARY:${PN}-exi = "evcharge EXI codec (C extension)"
SUMMARY:${PN}-sim = "evcharge simulators and software-in-the-loop runner (evcharge-sil)"
SUMMARY:${PN}-ocpp = "evcharge OCPP client (org.evcharge.Ocpp1)"
SUMMARY:${PN}-update = "evcharge firmware updates (org.evcharge.Update1, RAUC) and boot health"
SUMMARY:${PN}-v2g = "evcharge ISO 15118 / DIN 70121 SECC (org.evcharge.V2g1)"
SUMMARY:${PN}-slac = "evcharge SLAC on the PLC modem, ISO 15118-3 (org.evcharge.Slac1)"
SUMMARY:${PN}-power = "evcharge DC power supply and isolation monitor (org.evcharge.PowerSupply1)"
DESCRIPTION = "The Python package evcharge from the services/ directory of the evcharge \
               repository: board HAL, EVSE session manager, meter, auth and energy \
               services, OCPP, firmware updates and high-level communication, one systemd \
               unit and one D-Bus name each, packaged one service per package so an image \
               can leave services out."
SECTION = "devel/python"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

# Monorepo: this layer lives in the same git repository as services/, so the sources are
# the working tree next to the layer, fetched as a local directory. This keeps layer and code
# at the same commit by construction, needs no SRCREV bump per change and no network, and
# BitBake checksums the directory contents, so editing services/ rebuilds the package.
# (EXTERNALSRC would also work but disables sstate for the recipe and is a developer tool;
# a git:// URL to the repository itself would need every change committed first.)
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext - sources come from the repository root (monorepo), not from a files/ dir
FILESEXTRAPATHS:prepend := "${EVCHARGE_REPO_ROOT}:"
SRC_URI = "file://services"
S = "${EVCHARGE_UNPACKDIR}/services"

inherit python_setuptools_build_meta systemd useradd

# The EXI codec (evcharge.exi._exi) is a setuptools Extension: cross-compiled by the
# toolchain set up by setuptools3-base (CC/LDSHARED, target python headers), hardened by
# security_flags.inc like any other C code.

# The charging services every image runs (ci/build-test-image.sh and ci/lint-layer.sh read
# this line). Adding one: add it here and give it a package: PACKAGES, SUMMARY, FILES,
# CONFFILES, SYSTEMD_SERVICE, RDEPENDS, USERADD_PARAM, plus its user in files/evcharge-passwd
# and files/evcharge-group.
EVCHARGE_SERVICES = "board evse meter auth energy ocpp"
# High-level communication (ISO 15118 / DIN 70121): SECC, SLAC and the DC power supply. Their
# units are enabled only with DISTRO_FEATURES evcharge-hlc (kas/opt/hlc.yml): without a PLC
# modem in the board profile the slac service cannot start, so a basic-charging image carries
# at most their code (the development image, for SIL runs with evcharge-sil --hlc).
EVCHARGE_HLC_SERVICES = "v2g slac power"
# The update service has no configuration file; its boot gating units come with it: the
# health check before boot-complete.target, mark-good after it, and the reboot request.
EVCHARGE_UPDATE_UNITS = "evcharge-update.service evcharge-healthcheck.service evcharge-mark-good.service \
                         evcharge-update-reboot.path evcharge-update-reboot.service"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} \
               ${D}${datadir}/dbus-1/system.d \
               ${D}${sysconfdir}/evcharge \
               ${D}${nonarch_libdir}/sysusers.d

    # Each name below is a contract with services/ (see docs/ and conventions.md):
    # a missing file fails the build here instead of shipping a half service.
    for svc in ${EVCHARGE_SERVICES} ${EVCHARGE_HLC_SERVICES}; do
        case "$svc" in
        power) bus=PowerSupply1 ;;
        *) bus="$(echo "$svc" | sed 's/^./\U&/')1" ;;
        esac
        install -m 0644 ${S}/systemd/evcharge-$svc.service ${D}${systemd_system_unitdir}/
        install -m 0644 ${S}/dbus/org.evcharge.$bus.conf ${D}${datadir}/dbus-1/system.d/
        install -m 0644 ${S}/config/$svc.yaml ${D}${sysconfdir}/evcharge/
    done
    install -m 0644 ${S}/systemd/evcharge.target ${D}${systemd_system_unitdir}/
    for unit in ${EVCHARGE_UPDATE_UNITS}; do
        install -m 0644 ${S}/systemd/$unit ${D}${systemd_system_unitdir}/
    done
    install -m 0644 ${S}/dbus/org.evcharge.Update1.conf ${D}${datadir}/dbus-1/system.d/

    # Users are created at image build time by useradd (read-only rootfs); the sysusers.d
    # file is shipped too so systemd-sysusers and the rootfs sysusers check agree with it.
    install -m 0644 ${S}/sysusers.d/evcharge.conf ${D}${nonarch_libdir}/sysusers.d/
}

# One package per service, so an image can leave services out; the plain package pulls
# in every service. Adding a service: one line in each block below.
# Order matters: a file belongs to the first package whose FILES matches it, so the
# service packages take their subpackages before -common takes the rest of evcharge/.
PACKAGES =+ "${PN}-board ${PN}-evse ${PN}-meter ${PN}-auth ${PN}-energy ${PN}-ocpp \
             ${PN}-update ${PN}-v2g ${PN}-slac ${PN}-power ${PN}-cli ${PN}-exi ${PN}-sim ${PN}-common"
ALLOW_EMPTY:${PN} = "1"

FILES:${PN}-board += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/board \
    ${datadir}/dbus-1/system.d/org.evcharge.Board1.conf \
    ${sysconfdir}/evcharge/board.yaml \
    ${systemd_system_unitdir}/evcharge-board.service \
"
FILES:${PN}-evse += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/evse \
    ${datadir}/dbus-1/system.d/org.evcharge.Evse1.conf \
    ${sysconfdir}/evcharge/evse.yaml \
    ${systemd_system_unitdir}/evcharge-evse.service \
"
FILES:${PN}-meter += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/meter \
    ${datadir}/dbus-1/system.d/org.evcharge.Meter1.conf \
    ${sysconfdir}/evcharge/meter.yaml \
    ${systemd_system_unitdir}/evcharge-meter.service \
"
FILES:${PN}-auth += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/auth \
    ${datadir}/dbus-1/system.d/org.evcharge.Auth1.conf \
    ${sysconfdir}/evcharge/auth.yaml \
    ${systemd_system_unitdir}/evcharge-auth.service \
"
FILES:${PN}-energy += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/energy \
    ${datadir}/dbus-1/system.d/org.evcharge.Energy1.conf \
    ${sysconfdir}/evcharge/energy.yaml \
    ${systemd_system_unitdir}/evcharge-energy.service \
"
FILES:${PN}-ocpp += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/ocpp \
    ${datadir}/dbus-1/system.d/org.evcharge.Ocpp1.conf \
    ${sysconfdir}/evcharge/ocpp.yaml \
    ${systemd_system_unitdir}/evcharge-ocpp.service \
"
FILES:${PN}-update += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/update \
    ${datadir}/dbus-1/system.d/org.evcharge.Update1.conf \
    ${systemd_system_unitdir}/evcharge-update.service \
    ${systemd_system_unitdir}/evcharge-healthcheck.service \
    ${systemd_system_unitdir}/evcharge-mark-good.service \
    ${systemd_system_unitdir}/evcharge-update-reboot.path \
    ${systemd_system_unitdir}/evcharge-update-reboot.service \
"
FILES:${PN}-v2g += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/iso15118 \
    ${datadir}/dbus-1/system.d/org.evcharge.V2g1.conf \
    ${sysconfdir}/evcharge/v2g.yaml \
    ${systemd_system_unitdir}/evcharge-v2g.service \
"
FILES:${PN}-slac += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/slac \
    ${datadir}/dbus-1/system.d/org.evcharge.Slac1.conf \
    ${sysconfdir}/evcharge/slac.yaml \
    ${systemd_system_unitdir}/evcharge-slac.service \
"
# power: a simulated backend only so far (a hardware supply backend is still to come).
FILES:${PN}-power += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/power \
    ${datadir}/dbus-1/system.d/org.evcharge.PowerSupply1.conf \
    ${sysconfdir}/evcharge/power.yaml \
    ${systemd_system_unitdir}/evcharge-power.service \
"
FILES:${PN}-cli += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/cli \
    ${bindir}/evchargectl \
"
FILES:${PN}-exi += "${PYTHON_SITEPACKAGES_DIR}/evcharge/exi"
FILES:${PN}-sim += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/sil \
    ${PYTHON_SITEPACKAGES_DIR}/evcharge/sim \
    ${bindir}/evcharge-sil \
"
FILES:${PN}-common += "\
    ${PYTHON_SITEPACKAGES_DIR}/evcharge \
    ${PYTHON_SITEPACKAGES_DIR}/evcharge-*.dist-info \
    ${nonarch_libdir}/sysusers.d/evcharge.conf \
    ${systemd_system_unitdir}/evcharge.target \
"

# Default configurations: kept on upgrade when the operator changed them.
CONFFILES:${PN}-board = "${sysconfdir}/evcharge/board.yaml"
CONFFILES:${PN}-evse = "${sysconfdir}/evcharge/evse.yaml"
CONFFILES:${PN}-meter = "${sysconfdir}/evcharge/meter.yaml"
CONFFILES:${PN}-auth = "${sysconfdir}/evcharge/auth.yaml"
CONFFILES:${PN}-energy = "${sysconfdir}/evcharge/energy.yaml"
CONFFILES:${PN}-ocpp = "${sysconfdir}/evcharge/ocpp.yaml"
CONFFILES:${PN}-v2g = "${sysconfdir}/evcharge/v2g.yaml"
CONFFILES:${PN}-slac = "${sysconfdir}/evcharge/slac.yaml"
CONFFILES:${PN}-power = "${sysconfdir}/evcharge/power.yaml"

# Units, enabled in the image; evcharge.target groups them.
SYSTEMD_PACKAGES = "${PN}-common ${PN}-board ${PN}-evse ${PN}-meter ${PN}-auth ${PN}-energy ${PN}-ocpp \
                    ${PN}-update ${PN}-v2g ${PN}-slac ${PN}-power"
SYSTEMD_SERVICE:${PN}-common = "evcharge.target"
SYSTEMD_SERVICE:${PN}-board = "evcharge-board.service"
SYSTEMD_SERVICE:${PN}-evse = "evcharge-evse.service"
SYSTEMD_SERVICE:${PN}-meter = "evcharge-meter.service"
SYSTEMD_SERVICE:${PN}-auth = "evcharge-auth.service"
SYSTEMD_SERVICE:${PN}-energy = "evcharge-energy.service"
SYSTEMD_SERVICE:${PN}-ocpp = "evcharge-ocpp.service"
# evcharge-update-reboot.service has no [Install]: the path unit starts it.
SYSTEMD_SERVICE:${PN}-update = "evcharge-update.service evcharge-healthcheck.service evcharge-mark-good.service \
                                evcharge-update-reboot.path"
SYSTEMD_SERVICE:${PN}-v2g = "evcharge-v2g.service"
SYSTEMD_SERVICE:${PN}-slac = "evcharge-slac.service"
SYSTEMD_SERVICE:${PN}-power = "evcharge-power.service"
EVCHARGE_HLC_ENABLE = "${@bb.utils.contains('DISTRO_FEATURES', 'evcharge-hlc', 'enable', 'disable', d)}"
SYSTEMD_AUTO_ENABLE:${PN}-v2g = "${EVCHARGE_HLC_ENABLE}"
SYSTEMD_AUTO_ENABLE:${PN}-slac = "${EVCHARGE_HLC_ENABLE}"
SYSTEMD_AUTO_ENABLE:${PN}-power = "${EVCHARGE_HLC_ENABLE}"

EVCHARGE_HLC_PACKAGES = "${@bb.utils.contains('DISTRO_FEATURES', 'evcharge-hlc', '${PN}-power ${PN}-slac ${PN}-v2g', '', d)}"
RDEPENDS:${PN} = "${EVCHARGE_HLC_PACKAGES} ${PN}-auth ${PN}-board ${PN}-cli ${PN}-energy ${PN}-evse ${PN}-meter \
                  ${PN}-ocpp ${PN}-update"
RDEPENDS:${PN}-common = "\
    python3-asyncio \
    python3-core \
    python3-datetime \
    python3-dbus-fast \
    python3-json \
    python3-logging \
    python3-pyyaml \
"
# evcharge-board-profile: /usr/share/evcharge/boards/<board>.yaml for the MACHINE and the
# udev rules granting group evcharge-hw exactly the board's lines.
RDEPENDS:${PN}-board = "${PN}-common evcharge-board-profile python3-periphery python3-pyserial"
RDEPENDS:${PN}-evse = "${PN}-common"
RDEPENDS:${PN}-meter = "${PN}-common python3-pymodbus python3-pyserial"
RDEPENDS:${PN}-auth = "${PN}-common"
RDEPENDS:${PN}-energy = "${PN}-common"
# netclient: urllib and ftplib (GetLog / GetDiagnostics uploads over http(s) and ftp(s)).
RDEPENDS:${PN}-ocpp = "${PN}-common python3-cryptography python3-netclient python3-ocpp python3-sqlite3 python3-websockets"
# rauc: the mark-good unit runs the rauc tool; rauc-service: the D-Bus API the service drives;
# cryptography: the OCPP firmware signature check (imported only for a signed request);
# netclient: urllib and ftplib (bundle downloads over http(s) and ftp(s)).
RDEPENDS:${PN}-update = "${PN}-common python3-cryptography python3-netclient rauc rauc-service"
RDEPENDS:${PN}-v2g = "${PN}-common ${PN}-exi"
RDEPENDS:${PN}-slac = "${PN}-common"
RDEPENDS:${PN}-power = "${PN}-common"
RDEPENDS:${PN}-cli = "${PN}-common"
RDEPENDS:${PN}-exi = "${PN}-common"
# sim: the test CSMS (csms, csms16) needs the OCPP library and websockets, the test PKI cryptography.
RDEPENDS:${PN}-sim = "${PN}-cli ${PN}-common ${PN}-exi python3-cryptography python3-ocpp python3-websockets"

# One static system user per service; group evcharge may use evchargectl. Ids come from
# files/evcharge-passwd and files/evcharge-group (useradd-staticids in the distro), so
# they stay the same across A/B slots and releases.
USERADD_PACKAGES = "${PN}-common ${PN}-board ${PN}-evse ${PN}-meter ${PN}-auth ${PN}-energy ${PN}-ocpp \
                    ${PN}-update ${PN}-v2g ${PN}-slac ${PN}-power"
GROUPADD_PARAM:${PN}-common = "--system evcharge"
# evcharge-hw owns exactly the board's serial port, GPIO lines, PWM and IIO channels
# (udev rules in evcharge-board-profile); the board user is its only member.
GROUPADD_PARAM:${PN}-board = "--system evcharge-hw"
USERADD_PARAM:${PN}-board = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group --groups evcharge-hw evcharge-board"
USERADD_PARAM:${PN}-evse = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-evse"
USERADD_PARAM:${PN}-meter = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-meter"
USERADD_PARAM:${PN}-auth = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-auth"
USERADD_PARAM:${PN}-energy = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-energy"
USERADD_PARAM:${PN}-ocpp = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-ocpp"
USERADD_PARAM:${PN}-update = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-update"
USERADD_PARAM:${PN}-v2g = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-v2g"
USERADD_PARAM:${PN}-slac = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-slac"
USERADD_PARAM:${PN}-power = "--system --no-create-home --home-dir / --shell /sbin/nologin --user-group evcharge-power"
