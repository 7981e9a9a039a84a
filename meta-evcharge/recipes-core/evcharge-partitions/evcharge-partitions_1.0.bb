# nooelint: oelint.var.mandatoryvar.HOMEPAGE - integration recipe of this layer, no upstream project
SUMMARY = "Mounts for the evcharge A/B disk layout: boot, data, persistent service state"
DESCRIPTION = "systemd mount units for the boot and data partitions of the layouts in \
               wic/, and a bind mount of /data/evcharge onto /var/lib/evcharge so the \
               services' StateDirectory= survives reboots, the read-only root and A/B \
               updates."
SECTION = "base"
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - the unit files are part of this layer (MIT, like the layer)
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Mount units and not fstab: wic would write fstab into slot A only, while a RAUC bundle
# carries the plain ext4 image; units in the package are identical in every slot.
SRC_URI = "\
    file://boot.mount.in \
    file://data.mount \
    file://var-lib-evcharge.mount \
    file://evcharge-data-init.service \
"
S = "${EVCHARGE_UNPACKDIR}"

# Partitions are found by file system label (set in wic/), which both the GPT (qemux86-64)
# and the MBR (raspberrypi4-64) layout have.
EVCHARGE_BOOT_LABEL ?= "boot"
EVCHARGE_BOOT_FSTYPE ?= "vfat"

COMPATIBLE_MACHINE = "^(qemux86-64|raspberrypi4-64)$"
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit systemd features_check
REQUIRED_DISTRO_FEATURES = "systemd evcharge"

do_configure[noexec] = "1"
do_compile() {
    sed -e 's|@BOOT_LABEL@|${EVCHARGE_BOOT_LABEL}|' -e 's|@BOOT_FSTYPE@|${EVCHARGE_BOOT_FSTYPE}|' \
        ${S}/boot.mount.in > ${B}/boot.mount
}

do_install() {
    install -d ${D}${systemd_system_unitdir} ${D}/boot ${D}/data ${D}${localstatedir}/lib/evcharge
    install -m 0644 ${B}/boot.mount ${S}/data.mount ${S}/var-lib-evcharge.mount \
        ${S}/evcharge-data-init.service ${D}${systemd_system_unitdir}/
}

SYSTEMD_SERVICE:${PN} = "boot.mount data.mount var-lib-evcharge.mount"
FILES:${PN} += "\
    /boot \
    /data \
    ${localstatedir}/lib/evcharge \
"
