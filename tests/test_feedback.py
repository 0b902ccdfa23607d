"""feedback: an explanation is shown with a right answer only; the mysteries are selected by
digest (examples.is_mystery), so a check need not spell out its answer."""

import numpy as np
import pytest

from gradcheck_edu import bugs
from gradcheck_edu.examples import inject_mystery, is_mystery, mystery_bug
from gradcheck_edu.feedback import check_choice, check_names, check_number, require


def test_the_explanation_comes_with_a_right_answer_only(capsys):
    right = check_number(2.0, 2.0, name="slope", explain="two terms cancel.")
    wrong = check_number(1.0, 2.0, name="slope", hint="expand it.", explain="two terms cancel.")
    assert right.passed and str(right) == "slope: right. two terms cancel."
    assert not wrong.passed and "cancel" not in str(wrong) and wrong.explanation == ""
    require(right)
    assert capsys.readouterr().out == "slope: right. two terms cancel.\n"
    with pytest.raises(AssertionError) as err:
        require(wrong)
    assert "cancel" not in str(err.value) and capsys.readouterr().out == ""
    require(check_names({"W1"}, {"W1"}, name="names"))  # no explanation: nothing printed
    assert capsys.readouterr().out == ""


def test_check_choice_takes_a_test_of_the_option():
    options = [b.name for b in bugs.catalog()]
    picks = [n for n in options if is_mystery(2, n)]
    assert len(picks) == 1  # exactly one bug of the catalog is behind each mystery
    fb = check_choice(picks[0], lambda n: is_mystery(2, n), options, name="m", explain="why.")
    assert fb.passed and fb.explanation == "why."
    other = next(n for n in options if n != picks[0])
    fb = check_choice(other, lambda n: is_mystery(2, n), options, name="m", explain="why.")
    assert not fb.passed and picks[0] not in str(fb) and "why" not in str(fb)


@pytest.mark.parametrize("number", [1, 2, 3])
def test_each_mystery_is_one_bug_of_the_catalog(number):
    names = [b.name for b in bugs.catalog() if is_mystery(number, b.name)]
    assert len(names) == 1
    model, report, X, y = mystery_bug(number)
    assert not report.passed
    mine = inject_mystery(model, number).loss_and_grads(X, y)[1]
    named = bugs.inject(model, names[0]).loss_and_grads(X, y)[1]
    right = model.loss_and_grads(X, y)[1]
    assert all(np.array_equal(mine[k], named[k]) for k in right)
    assert any(not np.allclose(mine[k], right[k]) for k in right)


@pytest.mark.parametrize("number", [0, 4, "1", 1.0])
def test_a_wrong_mystery_number_is_refused(number):
    with pytest.raises(ValueError, match="1 to 3"):
        mystery_bug(number)
