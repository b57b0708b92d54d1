import subprocess
import sys


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_autoal_loads_no_heavy_dependency():
    out = run_python(
        "import sys, autoal; heavy = [m for m in ('torch', 'autogluon', 'timm', 'torchvision', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_public_api_is_explicit():
    import autoal

    assert "run" in autoal.__all__ and all(hasattr(autoal, name) for name in autoal.__all__)


def test_torchvision_imports_after_the_remedy():
    out = run_python(
        "from autoal.common.torch_compat import ensure_torchvision_importable as f; f(); "
        "import torchvision.transforms as T, torch; "
        "print(T.Resize(8)(torch.zeros(3, 16, 16)).shape)"
    )
    assert out.returncode == 0, out.stderr
    assert "torch.Size([3, 8, 8])" in out.stdout
