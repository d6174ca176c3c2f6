// Command entra is an identity-risk responder for one Microsoft Entra ID
// tenant, a template for hosts built on iamplaybook.
//
// It polls Identity Protection (risk detections, risky users) and the
// directory audit log (privileged role grants, privileged group additions,
// directory configuration changes) through Microsoft Graph, enriches each
// case (profile, roles and privilege level, groups, recent sign-ins,
// current risk), decides with the risk × privilege matrix, and contains
// through Graph: disable the account and revoke its sessions, or remove the
// granted role or group membership. Privileged targets wait for approval;
// configured break-glass accounts are never touched automatically; a
// budget turns a flood of containments into approval requests. Every stage
// goes to a hash-chained JSON Lines audit file.
//
// It runs in shadow mode (dry-run: everything is read, decided and
// audited, nothing is written to the tenant) unless --enforce is given.
//
// Credentials come from the environment:
//
//	ENTRA_TENANT_ID      tenant id or domain
//	ENTRA_CLIENT_ID      application (client) id
//	ENTRA_CLIENT_SECRET  client secret, or instead:
//	ENTRA_CERT_FILE      PEM certificate registered on the app, and
//	ENTRA_KEY_FILE       its PEM private key (RSA, PKCS#8 or PKCS#1)
//
// The app needs the application permissions IdentityRiskEvent.Read.All,
// IdentityRiskyUser.ReadWrite.All, AuditLog.Read.All, Directory.Read.All,
// User.ReadWrite.All, RoleManagement.ReadWrite.Directory and
// GroupMember.ReadWrite.All, and an Entra ID P2 licence for Identity
// Protection.
//
// Usage:
//
//	entra [--enforce] [--audit FILE] [--poll-interval 1m] [--state-dir DIR]
//	      [--break-glass UPN,...] [--privileged-roles TEMPLATE_ID,...]
//	      [--privileged-groups GROUP_ID,...] [--graph-url URL] [--token-url URL]
//
// Approval requests are announced in the log; verdicts are given through
// the approval queue (see newApprover), where the web approval channel will
// be plugged in.
package main
