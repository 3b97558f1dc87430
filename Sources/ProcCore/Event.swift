extension Event {
    /// A job event with the fields every job event carries.
    public static func job(_ type: EventType, _ job: JobRecord) -> Event {
        Event(type: type, jobID: job.id, status: job.status, queue: job.queue, attempt: job.attempt,
              agentID: job.agentID)
    }
}
