/// A cron schedule is what the scheduler asks for: the next fire time after an instant.
extension CronSchedule: RunTimes {}
