"""URL map for our CloudFormation backend (moto's shape, pointing at our responses)."""

from localcloud.cloudformation.responses import LocalCloudFormationResponse

url_bases = [r"https?://cloudformation\.(.+)\.amazonaws\.com"]

url_paths = {
    "{0}/$": LocalCloudFormationResponse.dispatch,
    "{0}/cloudformation_(?P<region>[^/]+)/cfnresponse$": LocalCloudFormationResponse.cfnresponse,
}
