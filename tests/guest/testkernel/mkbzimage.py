#!/usr/bin/env python3
"""Glue setup.bin and the flat kernel into a bzImage (Linux boot protocol).

usage: mkbzimage.py SETUP.BIN KERNEL.BIN INIT_SIZE OUT
Fills setup_sects, syssize and init_size in the setup header.
"""
import struct
import sys


def main():
    setup_path, kernel_path, init_size, out_path = sys.argv[1:5]
    setup = bytearray(open(setup_path, 'rb').read())
    kernel = open(kernel_path, 'rb').read()
    if len(setup) % 512 or len(setup) < 1024:
        sys.exit('setup.bin must be a multiple of 512 bytes')
    if setup[0x202:0x206] != b'HdrS':
        sys.exit('setup.bin has no HdrS header')
    setup[0x1f1] = len(setup) // 512 - 1
    struct.pack_into('<I', setup, 0x1f4, (len(kernel) + 15) // 16)
    struct.pack_into('<I', setup, 0x260, int(init_size, 0))
    with open(out_path, 'wb') as f:
        f.write(setup)
        f.write(kernel)
        f.write(b'\0' * (-len(kernel) % 16))


if __name__ == '__main__':
    main()
