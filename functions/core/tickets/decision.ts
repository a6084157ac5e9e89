/**
 * What a ticket read back asks of the broker (jira.ts and pagerduty.ts decide it, pure): requests to run through
 * the use cases exactly as if an integration had sent them, a refusal to answer, or nothing.
 */
import type { ExtendRequest, GrantRequest, Rejection, RevokeRequest, Subject, Ticket } from '../model';

export type TicketDecision =
  /** `approvedBy`: who made the approving transition (Jira) or acknowledged (PagerDuty), as the vendor names them. */
  | { readonly kind: 'grant'; readonly request: GrantRequest; readonly approvedBy: string }
  /** One revoke per grant the ticket may have given (PagerDuty: one per responder). */
  | { readonly kind: 'revoke'; readonly requests: readonly RevokeRequest[]; readonly closedBy?: string }
  /**
   * PagerDuty: every lease a responder got from the incident, one per acknowledgement: each of the subject's
   * leases whose requestId is `request.requestId` followed by `:` and the acknowledgement's instant, revoked as
   * `request` (a resolved incident no longer shows its acknowledgements, so their instants are read from the
   * leases).
   */
  | { readonly kind: 'revoke-responder'; readonly subject: Subject; readonly request: RevokeRequest }
  | { readonly kind: 'extend'; readonly request: ExtendRequest; readonly approvedBy: string }
  /** The ticket asks for something the broker refuses (self-approval, an approver outside the group, bad fields). */
  | {
      readonly kind: 'refuse';
      readonly rejection: Rejection;
      readonly requestId: string;
      readonly requestType: string;
      readonly ticket: Ticket;
    }
  /** Nothing to do (an issue of another project, a status that means nothing to the broker). */
  | { readonly kind: 'ignore'; readonly why: string };
