/**
 * The vendor APIs of the access rules' webhook integrations: one client per integration, built on first use,
 * authenticated with the secrets the rules name (read through the Secrets port, so a rotated token is picked
 * up when its cache expires).
 */
import type { JiraApi, PagerDutyApi, Secrets, TicketSystems } from '../app/ports';
import { webhookIntegration } from '../core/integrations';
import type { AccessRules } from '../core/rules';
import { JiraCloudApi } from './jira-api';
import { PagerDutyRestApi } from './pagerduty-api';

export interface VendorApisOptions {
  readonly rules: AccessRules;
  readonly secrets: Secrets;
  /**
   * Base URLs that replace the rules' `url`, by integration id: the local fakes of `npm start` and the tests
   * (TICKET_API_URLS), as AWS_ENDPOINT_URL replaces AWS's endpoints. Empty in AWS.
   */
  readonly urls?: Readonly<Record<string, string>>;
}

export class VendorApis implements TicketSystems {
  private readonly jiras = new Map<string, JiraApi>();
  private readonly pagerDuties = new Map<string, PagerDutyApi>();

  constructor(private readonly options: VendorApisOptions) {}

  jira(integrationId: string): JiraApi {
    const known = this.jiras.get(integrationId);
    if (known) return known;
    const webhook = this.webhookOf(integrationId);
    if (webhook.vendor !== 'jira') throw new Error(`Integration ${integrationId} is not a Jira integration`);
    const api = new JiraCloudApi({
      baseUrl: this.options.urls?.[integrationId] ?? webhook.url,
      user: webhook.user,
      token: () => this.options.secrets.get(webhook.token),
    });
    this.jiras.set(integrationId, api);
    return api;
  }

  pagerDuty(integrationId: string): PagerDutyApi {
    const known = this.pagerDuties.get(integrationId);
    if (known) return known;
    const webhook = this.webhookOf(integrationId);
    if (webhook.vendor !== 'pagerduty') {
      throw new Error(`Integration ${integrationId} is not a PagerDuty integration`);
    }
    const api = new PagerDutyRestApi({
      baseUrl: this.options.urls?.[integrationId] ?? webhook.url,
      token: () => this.options.secrets.get(webhook.token),
      from: webhook.from,
    });
    this.pagerDuties.set(integrationId, api);
    return api;
  }

  private webhookOf(integrationId: string) {
    const integration = webhookIntegration(this.options.rules, integrationId);
    // The use cases look integrations up in the same rules first: this is a bug, not bad input.
    if (!integration) throw new Error(`No webhook integration ${integrationId} in the access rules`);
    return integration.webhook;
  }
}
