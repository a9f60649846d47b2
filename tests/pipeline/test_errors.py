import pickle

import pytest

from pipeline.errors import BadRasterError, BadVectorError, ConfigError, InputFileError, LandcheckError


@pytest.mark.parametrize("cls", [InputFileError, BadRasterError, BadVectorError])
def test_file_errors_name_the_file_and_survive_pickling(cls):
    err = cls("/data/a.tif", "has 3 bands, band 4 requested")
    assert str(err) == "/data/a.tif: has 3 bands, band 4 requested"
    back = pickle.loads(pickle.dumps(err))  # as when raised on a dask worker
    assert type(back) is cls and str(back) == str(err) and back.path == err.path


def test_errors_are_also_builtins():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, LandcheckError)
    assert issubclass(BadRasterError, OSError)
    assert ConfigError.exit_code != InputFileError.exit_code
