#!/usr/bin/env bash
# Point the two Outbound Messages (Task and Event) at your stack and name the user they are sent as.
#
#   salesforce/scripts/configure-outbound-messages.sh <SalesforceOutboundMessageUrl> <integration-username>
#
# <SalesforceOutboundMessageUrl> is the stack output of that name, for example
#   https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/salesforce/outbound-messages
# <integration-username> is the Salesforce username of the integration user (it must exist before you
# deploy: Salesforce refuses an Outbound Message whose user it does not know).
#
# The script rewrites <endpointUrl> and <integrationUser> in force-app/main/default/workflows/*.xml in
# place. Run it again to change them; `git checkout -- salesforce/force-app` puts the placeholders back.
set -euo pipefail

die() {
  echo "error: $*" >&2
  exit 2
}

[[ $# -eq 2 ]] || die "usage: $0 <SalesforceOutboundMessageUrl> <integration-username>"
url=$1
user=$2

# Only characters that are safe in a sed replacement and in XML text, and the receiver's route.
[[ $url =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/webhooks/salesforce/outbound-messages$ ]] ||
  die "'$url' is not an https URL ending in /webhooks/salesforce/outbound-messages (copy the stack output SalesforceOutboundMessageUrl)"
[[ $user =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$ ]] ||
  die "'$user' does not look like a Salesforce username (name@domain)"

workflows="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/force-app/main/default/workflows"
for object in Task Event; do
  file="$workflows/$object.workflow-meta.xml"
  [[ -f $file ]] || die "missing $file"
  sed -i.bak \
    -e "s#<endpointUrl>[^<]*</endpointUrl>#<endpointUrl>$url</endpointUrl>#" \
    -e "s#<integrationUser>[^<]*</integrationUser>#<integrationUser>$user</integrationUser>#" \
    "$file"
  rm -f "$file.bak"
  grep -q "<endpointUrl>$url</endpointUrl>" "$file" || die "could not set the endpoint in $file"
  grep -q "<integrationUser>$user</integrationUser>" "$file" || die "could not set the user in $file"
  echo "$object: endpoint $url, sent as $user"
done
