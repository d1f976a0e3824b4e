#!/usr/bin/env bash
# Point the two Outbound Messages (Task and Event) at your stack and name the user they are sent as.
#
#   salesforce/scripts/configure-outbound-messages.sh <SalesforceOutboundMessageUrl> <integration-username> <token>
#
# <SalesforceOutboundMessageUrl> is the stack output of that name, for example
#   https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/salesforce/outbound-messages
# <integration-username> is the Salesforce username of the integration user (it must exist before you
# deploy: Salesforce refuses an Outbound Message whose user it does not know).
# <token> is the stack's outbound message token, the SecureString you created (README, "Secrets"):
#   "$(aws ssm get-parameter --with-decryption --query Parameter.Value --output text \
#        --name /activity-sync/<Stage>/webhooks/outbound-message-token)"
# The receiver accepts Outbound Messages only on <SalesforceOutboundMessageUrl>/<token>.
#
# The script rewrites <endpointUrl> and <integrationUser> in force-app/main/default/workflows/*.xml in
# place. Run it again to change them; `git checkout -- salesforce/force-app` puts the placeholders back.
set -euo pipefail

die() {
  echo "error: $*" >&2
  exit 2
}

[[ $# -eq 3 ]] || die "usage: $0 <SalesforceOutboundMessageUrl> <integration-username> <token>"
url=$1
user=$2
token=$3

# Only characters that are safe in a sed replacement and in XML text, and the receiver's route.
[[ $url =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/webhooks/salesforce/outbound-messages$ ]] ||
  die "'$url' is not an https URL ending in /webhooks/salesforce/outbound-messages (copy the stack output SalesforceOutboundMessageUrl)"
[[ $user =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$ ]] ||
  die "'$user' does not look like a Salesforce username (name@domain)"
[[ $token =~ ^[A-Za-z0-9_-]{32,128}$ ]] ||
  die "the token must be 32 to 128 letters, digits, '-' or '_' (e.g. openssl rand -hex 32)"
endpoint="$url/$token"

workflows="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/force-app/main/default/workflows"
for object in Task Event; do
  file="$workflows/$object.workflow-meta.xml"
  [[ -f $file ]] || die "missing $file"
  sed -i.bak \
    -e "s#<endpointUrl>[^<]*</endpointUrl>#<endpointUrl>$endpoint</endpointUrl>#" \
    -e "s#<integrationUser>[^<]*</integrationUser>#<integrationUser>$user</integrationUser>#" \
    "$file"
  rm -f "$file.bak"
  grep -q "<endpointUrl>$endpoint</endpointUrl>" "$file" || die "could not set the endpoint in $file"
  grep -q "<integrationUser>$user</integrationUser>" "$file" || die "could not set the user in $file"
  echo "$object: endpoint $url/<token>, sent as $user"
done
