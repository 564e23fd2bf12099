-- Traces: the W3C traceparent of the submit's span, so that every attempt's
-- span (after a relay, a retry or an expired lease too) joins the submit's
-- trace. NULL when the API was not tracing. No default: adding it is instant.
ALTER TABLE jobs ADD COLUMN traceparent text;
