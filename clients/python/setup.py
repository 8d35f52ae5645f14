"""Generates the gRPC stubs from the repository's contracts while the package is built.

The contracts live in `proto/proto/caixa/...` at the repository's root; the stubs go into
`caixa_client/_proto`, their imports rewritten to live there, with `.pyi` type stubs.
"""

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def contracts() -> Path:
    for root in (HERE / "proto", HERE.parent.parent / "proto" / "proto"):
        if (root / "caixa").is_dir():
            return root
    raise SystemExit(
        "caixa-client: the contracts (proto/proto/caixa/**/*.proto) were not found; "
        "build the package from a checkout of the caixa repository"
    )


class BuildWithStubs(build_py):
    def run(self) -> None:
        super().run()
        import grpc_tools
        from grpc_tools import protoc

        root = contracts()
        out = Path(self.build_lib) / "caixa_client" / "_proto"
        out.mkdir(parents=True, exist_ok=True)
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*.proto"))
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"caixa-client: protoc failed on {files}")
        for path in out.rglob("*.py*"):
            text = path.read_text()
            path.write_text(re.sub(r"^from caixa\.", "from caixa_client._proto.caixa.", text, flags=re.M))
        for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            (folder / "__init__.py").touch()


setup(cmdclass={"build_py": BuildWithStubs})
