"""What an error means for the resource that got it: gone, or a failure to report."""

from __future__ import annotations

from providers import salesforce


def test_a_thing_that_does_not_exist_is_not_found_however_salesforce_says_it() -> None:
    assert salesforce.is_not_found(salesforce.SalesforceError("orgB", None, None, "NOT_FOUND", "no app"))
    assert salesforce.is_not_found("HTTP_404")  # an endpoint's 404 without an error body
    assert salesforce.is_not_found("ENTITY_IS_DELETED")


def test_a_bad_reference_is_gone_only_for_the_delete_that_names_it() -> None:
    # deleteMetadata of a missing name answers INVALID_CROSS_REFERENCE_KEY: the delete is done. The
    # same code from an update says a name inside the component is wrong, which must not pass as gone.
    assert salesforce.is_not_found("INVALID_CROSS_REFERENCE_KEY", deleting=True)
    assert not salesforce.is_not_found("INVALID_CROSS_REFERENCE_KEY")


def test_other_failures_are_not_mistaken_for_not_found() -> None:
    taken = salesforce.SalesforceError("orgB", None, None, "DUPLICATE_VALUE", "taken")
    assert not salesforce.is_not_found(taken)
    assert not salesforce.is_not_found(ValueError("NOT_FOUND"))
    assert not salesforce.is_not_found(None)
