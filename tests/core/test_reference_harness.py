"""The reference environment answers: LiberTEM 0.16's sum of frames equals numpy's."""

import numpy as np


def test_the_reference_environment_runs_libertem_on_our_arrays(reference):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    got = reference.run(
        """
        import libertem
        from libertem.api import Context
        from libertem.executor.inline import InlineJobExecutor
        from libertem.udf.sum import SumUDF

        ctx = Context(executor=InlineJobExecutor())
        ds = ctx.load("memory", data=inputs["data"], sig_dims=2)
        outputs["sum"] = ctx.run_udf(dataset=ds, udf=SumUDF())["intensity"].data
        outputs["version"] = np.array(libertem.__version__)
        """,
        data=data,
    )
    assert str(got["version"]) == "0.16.0"
    np.testing.assert_array_equal(got["sum"], data.sum(axis=(0, 1)))
