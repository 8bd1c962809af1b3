//! Who submitted a job, as far as its build needs to know.

/// The API token a job came with (masked in its log like the job's own secrets) and
/// the id of the request that submitted it (on its build's service log lines).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SubmittedBy<'a> {
    pub(crate) api_token: Option<&'a str>,
    pub(crate) request_id: Option<&'a str>,
    /// The submitter is answered at the job's end (a blocking submission): what the
    /// answer to the submission itself would show, such as the place in a fleet's
    /// queue, is not looked up.
    pub(crate) waits: bool,
}
