# nooelint: oelint.var.mandatoryvar.HOMEPAGE - integration recipe of this layer, no upstream project
SUMMARY = "Initial GRUB environment for the evcharge A/B layout (qemux86-64)"
DESCRIPTION = "Deploys grubenv with slot A good and first in ORDER, slot B empty. \
               The wic layout copies it next to grub.cfg (wic/evcharge-grub-ab.cfg) in \
               the EFI partition, where RAUC (bootloader=grub) and GRUB read and write it."
SECTION = "bsp"
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - generated file, no sources to carry a license
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The environment block is generated in do_compile: no sources.
SRC_URI = ""

COMPATIBLE_MACHINE = "^qemux86-64$"
PACKAGE_ARCH = "${MACHINE_ARCH}"
INHIBIT_DEFAULT_DEPS = "1"

inherit deploy nopackages features_check

# Part of the evcharge A/B layout; skipped with another distro.
REQUIRED_DISTRO_FEATURES = "evcharge"

# Fresh disk: slot B has no root file system yet, so it must not be tried.
EVCHARGE_GRUBENV_VARS ?= "ORDER=A B|A_OK=1|A_TRY=0|B_OK=0|B_TRY=0"

do_configure[noexec] = "1"
do_install[noexec] = "1"

# The GRUB environment block format (grub-core/lib/envblk.c): a fixed header line, one
# NAME=value line per variable, padded with '#' to exactly 1024 bytes. Written here
# directly so the layout does not need grub-editenv built for the host.
python do_compile() {
    header = "# GRUB Environment Block\n"
    body = "".join("%s\n" % v for v in d.getVar("EVCHARGE_GRUBENV_VARS").split("|"))
    block = header + body
    if len(block) > 1024:
        bb.fatal("grubenv variables exceed the 1024-byte environment block")
    with open(os.path.join(d.getVar("B"), "grubenv"), "w") as f:
        f.write(block + "#" * (1024 - len(block)))
}

do_deploy() {
    install -m 0644 ${B}/grubenv ${DEPLOYDIR}/grubenv
}
addtask deploy after do_compile before do_build
