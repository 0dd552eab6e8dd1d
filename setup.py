"""Only here to hand the cffi build script to setuptools; all metadata is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["native/build.py:ffibuilder"])
