import type { Senders } from '../../../functions/app/ports';

/** A Senders directory over a fixed map of SQS sender ids (the role id part) to principal ARNs. */
export class KnownSenders implements Senders {
  constructor(private readonly roles: Readonly<Record<string, string>>) {}

  async principalOf(senderId: string): Promise<string | undefined> {
    return this.roles[senderId.split(':')[0] ?? ''];
  }
}
