"""Every Cloud API error code of the reference lands in the right class."""

from __future__ import annotations

import pytest

from sender.metrics import code_label
from shared.cloudapi import CloudApiError, ErrorClass, classify

pytestmark = pytest.mark.unit


class TestClassification:
    """Retry the transient, stop on the final, disconnect on token errors."""

    @pytest.mark.parametrize("code", [4, 80007, 130429, 131000, 2, 131016, 131057])
    @pytest.mark.parametrize("http", [400, 429, 500, 503])
    def test_throttling_and_outages_are_retried_on_any_status(self, code, http):
        assert classify(code, http) is ErrorClass.RETRY

    @pytest.mark.parametrize("code", [10, 200, 299, 131048, 368, 100, 131008, 131009, 131021,
                                      131026, 131031, 131047, 131051, 131053, 132000, 132001,
                                      132012, 133010])
    def test_final_codes_are_not_retried(self, code):
        assert classify(code, 400) is ErrorClass.FINAL

    @pytest.mark.parametrize("code", [0, 190])
    def test_token_errors_disconnect(self, code):
        assert classify(code, 401) is ErrorClass.AUTH

    def test_pair_limit_backs_off_the_recipient(self):
        assert classify(131056, 400) is ErrorClass.PAIR_LIMIT

    def test_network_errors_and_timeouts_are_retried(self):
        assert CloudApiError("Cloud API unreachable: TimeoutError").kind is ErrorClass.RETRY

    def test_readable_message_keeps_the_code(self):
        error = CloudApiError("Message undeliverable", code=131026, http_status=400)
        assert error.readable().startswith("(131026) ")

    def test_metric_labels_are_bounded(self):
        assert code_label(130429) == "130429"
        assert code_label(987654321) == "other"
        assert code_label(None, network=True) == "network"
