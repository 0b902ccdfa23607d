"""The isolated grader: student code in a sandbox, the grade decided in this process.

* :mod:`~gradcheck_edu.autograde.layers`: a homework layer's rows against the reference layer,
  on inputs drawn from the student's secret seed;
* :mod:`~gradcheck_edu.autograde.runtests`: an autograder zip's tests, bound to a submission;
* :mod:`~gradcheck_edu.autograde.grade`: one submission, or a class in parallel, and the
  gradebook;
* :mod:`~gradcheck_edu.autograde.gradescope`: the ``run_autograder`` of the Gradescope zip;
* :mod:`~gradcheck_edu.autograde.functions`: named functions the tests pass to student code.

Submodules load on use (``import gradcheck_edu.autograde`` imports none of them).
"""

__all__: list[str] = []
