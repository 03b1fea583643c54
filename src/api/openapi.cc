#include "api/openapi.h"
#include <utility>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

namespace shakeout::api {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// The schema table: the k8s.io/api types behind the served kinds, one row per
// type, field names and patch metadata as upstream's generated OpenAPI
// (api/openapi-spec/v3/*.json) carries them.
//
// Row: {"<pkg>.<Type>", "<field> <field> ..."}. A field is `name[:type][/mods]`:
//   type  s (default) string   i int32   l int64   b bool   d double
//         ss map[string]string  mq map[string]Quantity  q Quantity
//         ios IntOrString  t Time  mt MicroTime  any free-form object
//         raw RawExtension  [T] list of T  Name / pkg.Name another row
//   mods  M=key      patch merge key `key`, strategy merge, list-type map on `key`
//         merge=key  patch merge key only     strategy=a+b  patch strategy "a,b"
//         map=k1+k2  list-type map with keys  atomic / set  list-type
// A row "*" is a type shakeout does not describe field by field (rarely used
// volume sources): any content is accepted, as for an open schema. A row
// starting with "=" is the literal JSON schema.
// ---------------------------------------------------------------------------

struct TypeRow {
  const char* name;
  const char* fields;
};

constexpr const char* kObject = "apiVersion kind metadata:meta.ObjectMeta ";

// clang-format off
const TypeRow kTypes[] = {
    // --- k8s.io/apimachinery
    {"meta.ObjectMeta", "annotations:ss creationTimestamp:t deletionGracePeriodSeconds:l deletionTimestamp:t "
                        "finalizers:[s]/strategy=merge/set generateName generation:l labels:ss "
                        "managedFields:[ManagedFieldsEntry]/atomic name namespace "
                        "ownerReferences:[OwnerReference]/M=uid resourceVersion selfLink uid"},
    {"meta.ManagedFieldsEntry", "apiVersion fieldsType fieldsV1:FieldsV1 manager operation subresource time:t"},
    {"meta.OwnerReference", "apiVersion blockOwnerDeletion:b controller:b kind name uid"},
    {"meta.ListMeta", "continue remainingItemCount:l resourceVersion selfLink"},
    {"meta.LabelSelector", "matchExpressions:[LabelSelectorRequirement]/atomic matchLabels:ss"},
    {"meta.LabelSelectorRequirement", "key operator values:[s]/atomic"},
    {"meta.Condition", "lastTransitionTime:t message observedGeneration:l reason status type"},
    {"meta.Status", "apiVersion code:i details:StatusDetails kind message metadata:ListMeta reason status"},
    {"meta.StatusDetails", "causes:[StatusCause]/atomic group kind name retryAfterSeconds:i uid"},
    {"meta.StatusCause", "field message reason"},
    {"meta.DeleteOptions", "apiVersion dryRun:[s]/atomic gracePeriodSeconds:l "
                           "ignoreStoreReadErrorWithClusterBreakingPotential:b kind orphanDependents:b "
                           "preconditions:Preconditions propagationPolicy"},
    {"meta.Preconditions", "resourceVersion uid"},
    {"meta.WatchEvent", "object:raw type"},
    {"meta.APIResourceList", "apiVersion groupVersion kind resources:[APIResource]/atomic"},
    {"meta.APIResource", "categories:[s]/atomic group kind name namespaced:b shortNames:[s]/atomic singularName "
                         "storageVersionHash verbs:[s] version"},
    {"meta.APIVersions", "apiVersion kind serverAddressByClientCIDRs:[ServerAddressByClientCIDR]/atomic "
                         "versions:[s]/atomic"},
    {"meta.APIGroupList", "apiVersion groups:[APIGroup]/atomic kind"},
    {"meta.APIGroup", "apiVersion kind name preferredVersion:GroupVersionForDiscovery "
                      "serverAddressByClientCIDRs:[ServerAddressByClientCIDR]/atomic "
                      "versions:[GroupVersionForDiscovery]/atomic"},
    {"meta.GroupVersionForDiscovery", "groupVersion version"},
    {"meta.ServerAddressByClientCIDR", "clientCIDR serverAddress"},
    {"meta.FieldsV1", "={\"type\":\"object\"}"},
    {"meta.Patch", "={\"type\":\"object\"}"},
    {"meta.Time", "={\"type\":\"string\",\"format\":\"date-time\"}"},
    {"meta.MicroTime", "={\"type\":\"string\",\"format\":\"date-time\"}"},
    {"resource.Quantity", "={\"oneOf\":[{\"type\":\"string\"},{\"type\":\"number\"}]}"},
    {"intstr.IntOrString", "={\"type\":\"string\",\"format\":\"int-or-string\"}"},
    {"runtime.RawExtension", "={\"type\":\"object\"}"},

    // --- core/v1: Pod
    {"core.Pod", "apiVersion kind metadata:meta.ObjectMeta spec:PodSpec status:PodStatus"},
    {"core.PodTemplateSpec", "metadata:meta.ObjectMeta spec:PodSpec"},
    {"core.PodSpec", "activeDeadlineSeconds:l affinity:Affinity automountServiceAccountToken:b "
                     "containers:[Container]/M=name dnsConfig:PodDNSConfig dnsPolicy enableServiceLinks:b "
                     "ephemeralContainers:[EphemeralContainer]/M=name hostAliases:[HostAlias]/M=ip hostIPC:b "
                     "hostNetwork:b hostPID:b hostUsers:b hostname hostnameOverride "
                     "imagePullSecrets:[LocalObjectReference]/M=name initContainers:[Container]/M=name nodeName "
                     "nodeSelector:ss os:PodOS overhead:mq preemptionPolicy priority:i priorityClassName "
                     "readinessGates:[PodReadinessGate]/atomic "
                     "resourceClaims:[PodResourceClaim]/M=name/strategy=merge+retainKeys "
                     "resources:ResourceRequirements restartPolicy runtimeClassName schedulerName "
                     "schedulingGates:[PodSchedulingGate]/M=name securityContext:PodSecurityContext "
                     "serviceAccount serviceAccountName setHostnameAsFQDN:b shareProcessNamespace:b subdomain "
                     "terminationGracePeriodSeconds:l tolerations:[Toleration]/atomic "
                     "topologySpreadConstraints:[TopologySpreadConstraint]/M=topologyKey/map=topologyKey+whenUnsatisfiable "
                     "volumes:[Volume]/M=name/strategy=merge+retainKeys"},
    {"core.Container", "args:[s]/atomic command:[s]/atomic env:[EnvVar]/M=name envFrom:[EnvFromSource]/atomic image "
                       "imagePullPolicy lifecycle:Lifecycle livenessProbe:Probe name "
                       "ports:[ContainerPort]/M=containerPort/map=containerPort+protocol readinessProbe:Probe "
                       "resizePolicy:[ContainerResizePolicy]/atomic resources:ResourceRequirements restartPolicy "
                       "restartPolicyRules:[ContainerRestartRule]/atomic securityContext:SecurityContext "
                       "startupProbe:Probe stdin:b stdinOnce:b terminationMessagePath terminationMessagePolicy tty:b "
                       "volumeDevices:[VolumeDevice]/M=devicePath volumeMounts:[VolumeMount]/M=mountPath workingDir"},
    {"core.EphemeralContainer", "args:[s]/atomic command:[s]/atomic env:[EnvVar]/M=name envFrom:[EnvFromSource]/atomic "
                                "image imagePullPolicy lifecycle:Lifecycle livenessProbe:Probe name "
                                "ports:[ContainerPort]/M=containerPort/map=containerPort+protocol readinessProbe:Probe "
                                "resizePolicy:[ContainerResizePolicy]/atomic resources:ResourceRequirements "
                                "restartPolicy restartPolicyRules:[ContainerRestartRule]/atomic "
                                "securityContext:SecurityContext startupProbe:Probe stdin:b stdinOnce:b "
                                "targetContainerName terminationMessagePath terminationMessagePolicy tty:b "
                                "volumeDevices:[VolumeDevice]/M=devicePath volumeMounts:[VolumeMount]/M=mountPath "
                                "workingDir"},
    {"core.ContainerRestartRule", "action exitCodes:ContainerRestartRuleOnExitCodes"},
    {"core.ContainerRestartRuleOnExitCodes", "operator values:[i]/set"},
    {"core.ContainerPort", "containerPort:i hostIP hostPort:i name protocol"},
    {"core.EnvVar", "name value valueFrom:EnvVarSource"},
    {"core.EnvVarSource", "configMapKeyRef:ConfigMapKeySelector fieldRef:ObjectFieldSelector "
                          "fileKeyRef:FileKeySelector resourceFieldRef:ResourceFieldSelector "
                          "secretKeyRef:SecretKeySelector"},
    {"core.ConfigMapKeySelector", "key name optional:b"},
    {"core.SecretKeySelector", "key name optional:b"},
    {"core.FileKeySelector", "key optional:b path volumeName"},
    {"core.ObjectFieldSelector", "apiVersion fieldPath"},
    {"core.ResourceFieldSelector", "containerName divisor:q resource"},
    {"core.EnvFromSource", "configMapRef:ConfigMapEnvSource prefix secretRef:SecretEnvSource"},
    {"core.ConfigMapEnvSource", "name optional:b"},
    {"core.SecretEnvSource", "name optional:b"},
    {"core.Lifecycle", "postStart:LifecycleHandler preStop:LifecycleHandler stopSignal"},
    {"core.LifecycleHandler", "exec:ExecAction httpGet:HTTPGetAction sleep:SleepAction tcpSocket:TCPSocketAction"},
    {"core.Probe", "exec:ExecAction failureThreshold:i grpc:GRPCAction httpGet:HTTPGetAction initialDelaySeconds:i "
                   "periodSeconds:i successThreshold:i tcpSocket:TCPSocketAction terminationGracePeriodSeconds:l "
                   "timeoutSeconds:i"},
    {"core.ExecAction", "command:[s]/atomic"},
    {"core.HTTPGetAction", "host httpHeaders:[HTTPHeader]/atomic path port:ios scheme"},
    {"core.HTTPHeader", "name value"},
    {"core.TCPSocketAction", "host port:ios"},
    {"core.GRPCAction", "port:i service"},
    {"core.SleepAction", "seconds:l"},
    {"core.ResourceRequirements", "claims:[ResourceClaim]/map=name limits:mq requests:mq"},
    {"core.ResourceClaim", "name request"},
    {"core.ContainerResizePolicy", "resourceName restartPolicy"},
    {"core.SecurityContext", "allowPrivilegeEscalation:b appArmorProfile:AppArmorProfile capabilities:Capabilities "
                             "privileged:b procMount readOnlyRootFilesystem:b runAsGroup:l runAsNonRoot:b "
                             "runAsUser:l seLinuxOptions:SELinuxOptions seccompProfile:SeccompProfile "
                             "windowsOptions:WindowsSecurityContextOptions"},
    {"core.PodSecurityContext", "appArmorProfile:AppArmorProfile fsGroup:l fsGroupChangePolicy runAsGroup:l "
                                "runAsNonRoot:b runAsUser:l seLinuxChangePolicy seLinuxOptions:SELinuxOptions "
                                "seccompProfile:SeccompProfile supplementalGroups:[l]/atomic supplementalGroupsPolicy "
                                "sysctls:[Sysctl]/atomic windowsOptions:WindowsSecurityContextOptions"},
    {"core.Capabilities", "add:[s]/atomic drop:[s]/atomic"},
    {"core.SELinuxOptions", "level role type user"},
    {"core.SeccompProfile", "localhostProfile type"},
    {"core.AppArmorProfile", "localhostProfile type"},
    {"core.WindowsSecurityContextOptions", "gmsaCredentialSpec gmsaCredentialSpecName hostProcess:b runAsUserName"},
    {"core.Sysctl", "name value"},
    {"core.VolumeMount", "mountPath mountPropagation name readOnly:b recursiveReadOnly subPath subPathExpr"},
    {"core.VolumeDevice", "devicePath name"},
    {"core.Volume", "awsElasticBlockStore:AWSElasticBlockStoreVolumeSource azureDisk:AzureDiskVolumeSource "
                    "azureFile:AzureFileVolumeSource cephfs:CephFSVolumeSource cinder:CinderVolumeSource "
                    "configMap:ConfigMapVolumeSource csi:CSIVolumeSource downwardAPI:DownwardAPIVolumeSource "
                    "emptyDir:EmptyDirVolumeSource ephemeral:EphemeralVolumeSource fc:FCVolumeSource "
                    "flexVolume:FlexVolumeSource flocker:FlockerVolumeSource "
                    "gcePersistentDisk:GCEPersistentDiskVolumeSource gitRepo:GitRepoVolumeSource "
                    "glusterfs:GlusterfsVolumeSource hostPath:HostPathVolumeSource image:ImageVolumeSource "
                    "iscsi:ISCSIVolumeSource name nfs:NFSVolumeSource "
                    "persistentVolumeClaim:PersistentVolumeClaimVolumeSource "
                    "photonPersistentDisk:PhotonPersistentDiskVolumeSource portworxVolume:PortworxVolumeSource "
                    "projected:ProjectedVolumeSource quobyte:QuobyteVolumeSource rbd:RBDVolumeSource "
                    "scaleIO:ScaleIOVolumeSource secret:SecretVolumeSource storageos:StorageOSVolumeSource "
                    "vsphereVolume:VsphereVirtualDiskVolumeSource"},
    {"core.ConfigMapVolumeSource", "defaultMode:i items:[KeyToPath]/atomic name optional:b"},
    {"core.SecretVolumeSource", "defaultMode:i items:[KeyToPath]/atomic optional:b secretName"},
    {"core.KeyToPath", "key mode:i path"},
    {"core.EmptyDirVolumeSource", "medium sizeLimit:q"},
    {"core.HostPathVolumeSource", "path type"},
    {"core.NFSVolumeSource", "path readOnly:b server"},
    {"core.PersistentVolumeClaimVolumeSource", "claimName readOnly:b"},
    {"core.ImageVolumeSource", "pullPolicy reference"},
    {"core.DownwardAPIVolumeSource", "defaultMode:i items:[DownwardAPIVolumeFile]/atomic"},
    {"core.DownwardAPIVolumeFile", "fieldRef:ObjectFieldSelector mode:i path resourceFieldRef:ResourceFieldSelector"},
    {"core.ProjectedVolumeSource", "defaultMode:i sources:[VolumeProjection]/atomic"},
    {"core.VolumeProjection", "clusterTrustBundle:ClusterTrustBundleProjection configMap:ConfigMapProjection "
                              "downwardAPI:DownwardAPIProjection podCertificate:PodCertificateProjection "
                              "secret:SecretProjection serviceAccountToken:ServiceAccountTokenProjection"},
    {"core.ConfigMapProjection", "items:[KeyToPath]/atomic name optional:b"},
    {"core.SecretProjection", "items:[KeyToPath]/atomic name optional:b"},
    {"core.DownwardAPIProjection", "items:[DownwardAPIVolumeFile]/atomic"},
    {"core.ServiceAccountTokenProjection", "audience expirationSeconds:l path"},
    {"core.CSIVolumeSource", "driver fsType nodePublishSecretRef:LocalObjectReference readOnly:b volumeAttributes:ss"},
    {"core.AWSElasticBlockStoreVolumeSource", "*"},
    {"core.AzureDiskVolumeSource", "*"},
    {"core.AzureFileVolumeSource", "*"},
    {"core.CephFSVolumeSource", "*"},
    {"core.CinderVolumeSource", "*"},
    {"core.ClusterTrustBundleProjection", "*"},
    {"core.EphemeralVolumeSource", "*"},
    {"core.FCVolumeSource", "*"},
    {"core.FlexVolumeSource", "*"},
    {"core.FlockerVolumeSource", "*"},
    {"core.GCEPersistentDiskVolumeSource", "*"},
    {"core.GitRepoVolumeSource", "*"},
    {"core.GlusterfsVolumeSource", "*"},
    {"core.ISCSIVolumeSource", "*"},
    {"core.PhotonPersistentDiskVolumeSource", "*"},
    {"core.PodCertificateProjection", "*"},
    {"core.PortworxVolumeSource", "*"},
    {"core.QuobyteVolumeSource", "*"},
    {"core.RBDVolumeSource", "*"},
    {"core.ScaleIOVolumeSource", "*"},
    {"core.StorageOSVolumeSource", "*"},
    {"core.VsphereVirtualDiskVolumeSource", "*"},
    {"core.Affinity", "nodeAffinity:NodeAffinity podAffinity:PodAffinity podAntiAffinity:PodAntiAffinity"},
    {"core.NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution:[PreferredSchedulingTerm]/atomic "
                          "requiredDuringSchedulingIgnoredDuringExecution:NodeSelector"},
    {"core.NodeSelector", "nodeSelectorTerms:[NodeSelectorTerm]/atomic"},
    {"core.NodeSelectorTerm", "matchExpressions:[NodeSelectorRequirement]/atomic "
                              "matchFields:[NodeSelectorRequirement]/atomic"},
    {"core.NodeSelectorRequirement", "key operator values:[s]/atomic"},
    {"core.PreferredSchedulingTerm", "preference:NodeSelectorTerm weight:i"},
    {"core.PodAffinity", "preferredDuringSchedulingIgnoredDuringExecution:[WeightedPodAffinityTerm]/atomic "
                         "requiredDuringSchedulingIgnoredDuringExecution:[PodAffinityTerm]/atomic"},
    {"core.PodAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution:[WeightedPodAffinityTerm]/atomic "
                             "requiredDuringSchedulingIgnoredDuringExecution:[PodAffinityTerm]/atomic"},
    {"core.WeightedPodAffinityTerm", "podAffinityTerm:PodAffinityTerm weight:i"},
    {"core.PodAffinityTerm", "labelSelector:meta.LabelSelector matchLabelKeys:[s]/atomic "
                             "mismatchLabelKeys:[s]/atomic namespaceSelector:meta.LabelSelector "
                             "namespaces:[s]/atomic topologyKey"},
    {"core.Toleration", "effect key operator tolerationSeconds:l value"},
    {"core.TopologySpreadConstraint", "labelSelector:meta.LabelSelector matchLabelKeys:[s]/atomic maxSkew:i "
                                      "minDomains:i nodeAffinityPolicy nodeTaintsPolicy topologyKey "
                                      "whenUnsatisfiable"},
    {"core.PodDNSConfig", "nameservers:[s]/atomic options:[PodDNSConfigOption]/atomic searches:[s]/atomic"},
    {"core.PodDNSConfigOption", "name value"},
    {"core.HostAlias", "hostnames:[s]/atomic ip"},
    {"core.PodOS", "name"},
    {"core.PodReadinessGate", "conditionType"},
    {"core.PodSchedulingGate", "name"},
    {"core.PodResourceClaim", "name resourceClaimName resourceClaimTemplateName"},
    {"core.LocalObjectReference", "name"},
    {"core.ObjectReference", "apiVersion fieldPath kind name namespace resourceVersion uid"},
    {"core.PodStatus", "conditions:[PodCondition]/M=type containerStatuses:[ContainerStatus]/atomic "
                       "ephemeralContainerStatuses:[ContainerStatus]/atomic extendedResourceClaimStatus:any hostIP "
                       "hostIPs:[HostIP]/merge=ip/strategy=merge/atomic initContainerStatuses:[ContainerStatus]/atomic "
                       "message nominatedNodeName observedGeneration:l phase podIP podIPs:[PodIP]/M=ip qosClass "
                       "reason resize resourceClaimStatuses:[PodResourceClaimStatus]/M=name startTime:t"},
    {"core.PodCondition", "lastProbeTime:t lastTransitionTime:t message observedGeneration:l reason status type"},
    {"core.ContainerStatus", "allocatedResources:mq allocatedResourcesStatus:[any]/map=name containerID image "
                             "imageID lastState:ContainerState name ready:b resources:ResourceRequirements "
                             "restartCount:i started:b state:ContainerState stopSignal user:any "
                             "volumeMounts:[VolumeMountStatus]/M=mountPath"},
    {"core.ContainerState", "running:ContainerStateRunning terminated:ContainerStateTerminated "
                            "waiting:ContainerStateWaiting"},
    {"core.ContainerStateRunning", "startedAt:t"},
    {"core.ContainerStateTerminated", "containerID exitCode:i finishedAt:t message reason signal:i startedAt:t"},
    {"core.ContainerStateWaiting", "message reason"},
    {"core.VolumeMountStatus", "mountPath name readOnly:b recursiveReadOnly"},
    {"core.HostIP", "ip"},
    {"core.PodIP", "ip"},
    {"core.PodResourceClaimStatus", "name resourceClaimName"},
    {"core.Binding", "apiVersion kind metadata:meta.ObjectMeta target:ObjectReference"},

    // --- core/v1: Namespace, Node, Service, Endpoints, Event
    {"core.Namespace", "apiVersion kind metadata:meta.ObjectMeta spec:NamespaceSpec status:NamespaceStatus"},
    {"core.NamespaceSpec", "finalizers:[s]/atomic"},
    {"core.NamespaceStatus", "conditions:[NamespaceCondition]/M=type phase"},
    {"core.NamespaceCondition", "lastTransitionTime:t message reason status type"},
    {"core.Node", "apiVersion kind metadata:meta.ObjectMeta spec:NodeSpec status:NodeStatus"},
    {"core.NodeSpec", "configSource:any externalID podCIDR podCIDRs:[s]/strategy=merge/set providerID "
                      "taints:[Taint]/atomic unschedulable:b"},
    {"core.Taint", "effect key timeAdded:t value"},
    {"core.NodeStatus", "addresses:[NodeAddress]/M=type allocatable:mq capacity:mq conditions:[NodeCondition]/M=type "
                        "config:any daemonEndpoints:NodeDaemonEndpoints declaredFeatures:[s]/atomic "
                        "features:NodeFeatures images:[ContainerImage]/atomic nodeInfo:NodeSystemInfo phase "
                        "runtimeHandlers:[NodeRuntimeHandler]/atomic volumesAttached:[AttachedVolume]/atomic "
                        "volumesInUse:[s]/atomic"},
    {"core.NodeAddress", "address type"},
    {"core.NodeCondition", "lastHeartbeatTime:t lastTransitionTime:t message reason status type"},
    {"core.NodeDaemonEndpoints", "kubeletEndpoint:DaemonEndpoint"},
    {"core.DaemonEndpoint", "Port:i"},
    {"core.NodeFeatures", "supplementalGroupsPolicy:b"},
    {"core.ContainerImage", "names:[s]/atomic sizeBytes:l"},
    {"core.NodeSystemInfo", "architecture bootID containerRuntimeVersion kernelVersion kubeProxyVersion "
                            "kubeletVersion machineID operatingSystem osImage swap:any systemUUID"},
    {"core.NodeRuntimeHandler", "features:any name"},
    {"core.AttachedVolume", "devicePath name"},
    {"core.Service", "apiVersion kind metadata:meta.ObjectMeta spec:ServiceSpec status:ServiceStatus"},
    {"core.ServiceSpec", "allocateLoadBalancerNodePorts:b clusterIP clusterIPs:[s]/atomic externalIPs:[s]/atomic "
                         "externalName externalTrafficPolicy healthCheckNodePort:i internalTrafficPolicy "
                         "ipFamilies:[s]/atomic ipFamilyPolicy loadBalancerClass loadBalancerIP "
                         "loadBalancerSourceRanges:[s]/atomic ports:[ServicePort]/M=port/map=port+protocol "
                         "publishNotReadyAddresses:b selector:ss sessionAffinity "
                         "sessionAffinityConfig:SessionAffinityConfig trafficDistribution type"},
    {"core.ServicePort", "appProtocol name nodePort:i port:i protocol targetPort:ios"},
    {"core.SessionAffinityConfig", "clientIP:ClientIPConfig"},
    {"core.ClientIPConfig", "timeoutSeconds:i"},
    {"core.ServiceStatus", "conditions:[meta.Condition]/M=type loadBalancer:LoadBalancerStatus"},
    {"core.LoadBalancerStatus", "ingress:[LoadBalancerIngress]/atomic"},
    {"core.LoadBalancerIngress", "hostname ip ipMode ports:[PortStatus]/atomic"},
    {"core.PortStatus", "error port:i protocol"},
    {"core.Endpoints", "apiVersion kind metadata:meta.ObjectMeta subsets:[EndpointSubset]/atomic"},
    {"core.EndpointSubset", "addresses:[EndpointAddress]/atomic notReadyAddresses:[EndpointAddress]/atomic "
                            "ports:[EndpointPort]/atomic"},
    {"core.EndpointAddress", "hostname ip nodeName targetRef:ObjectReference"},
    {"core.EndpointPort", "appProtocol name port:i protocol"},
    {"core.Event", "action apiVersion count:i eventTime:mt firstTimestamp:t involvedObject:ObjectReference kind "
                   "lastTimestamp:t message metadata:meta.ObjectMeta reason related:ObjectReference "
                   "reportingComponent reportingInstance series:EventSeries source:EventSource type"},
    {"core.EventSeries", "count:i lastObservedTime:mt"},
    {"core.EventSource", "component host"},

    // --- apps/v1
    {"apps.Deployment", "apiVersion kind metadata:meta.ObjectMeta spec:DeploymentSpec status:DeploymentStatus"},
    {"apps.DeploymentSpec", "minReadySeconds:i paused:b progressDeadlineSeconds:i replicas:i revisionHistoryLimit:i "
                            "selector:meta.LabelSelector strategy:DeploymentStrategy/strategy=retainKeys "
                            "template:core.PodTemplateSpec"},
    {"apps.DeploymentStrategy", "rollingUpdate:RollingUpdateDeployment type"},
    {"apps.RollingUpdateDeployment", "maxSurge:ios maxUnavailable:ios"},
    {"apps.DeploymentStatus", "availableReplicas:i collisionCount:i conditions:[DeploymentCondition]/M=type "
                              "observedGeneration:l readyReplicas:i replicas:i terminatingReplicas:i "
                              "unavailableReplicas:i updatedReplicas:i"},
    {"apps.DeploymentCondition", "lastTransitionTime:t lastUpdateTime:t message reason status type"},
    {"apps.ReplicaSet", "apiVersion kind metadata:meta.ObjectMeta spec:ReplicaSetSpec status:ReplicaSetStatus"},
    {"apps.ReplicaSetSpec", "minReadySeconds:i replicas:i selector:meta.LabelSelector template:core.PodTemplateSpec"},
    {"apps.ReplicaSetStatus", "availableReplicas:i conditions:[ReplicaSetCondition]/M=type fullyLabeledReplicas:i "
                              "observedGeneration:l readyReplicas:i replicas:i terminatingReplicas:i"},
    {"apps.ReplicaSetCondition", "lastTransitionTime:t message reason status type"},

    // --- coordination.k8s.io/v1, discovery.k8s.io/v1, subresource kinds
    {"coordination.Lease", "apiVersion kind metadata:meta.ObjectMeta spec:LeaseSpec"},
    {"coordination.LeaseSpec", "acquireTime:mt holderIdentity leaseDurationSeconds:i leaseTransitions:i "
                               "preferredHolder renewTime:mt strategy"},
    {"discovery.EndpointSlice", "addressType apiVersion endpoints:[Endpoint]/atomic kind metadata:meta.ObjectMeta "
                                "ports:[EndpointPort]/atomic"},
    {"discovery.Endpoint", "addresses:[s]/set conditions:EndpointConditions deprecatedTopology:ss "
                           "hints:EndpointHints hostname nodeName targetRef:core.ObjectReference zone"},
    {"discovery.EndpointConditions", "ready:b serving:b terminating:b"},
    {"discovery.EndpointHints", "forNodes:[ForNode]/atomic forZones:[ForZone]/atomic"},
    {"discovery.ForZone", "name"},
    {"discovery.ForNode", "name"},
    {"discovery.EndpointPort", "appProtocol name port:i protocol"},
    {"autoscaling.Scale", "apiVersion kind metadata:meta.ObjectMeta spec:ScaleSpec status:ScaleStatus"},
    {"autoscaling.ScaleSpec", "replicas:i"},
    {"autoscaling.ScaleStatus", "replicas:i selector"},
    {"policy.PodDisruptionBudget", "apiVersion kind metadata:meta.ObjectMeta spec:PodDisruptionBudgetSpec "
                                   "status:PodDisruptionBudgetStatus"},
    {"policy.PodDisruptionBudgetSpec", "maxUnavailable:ios minAvailable:ios selector:meta.LabelSelector/strategy=replace "
                                       "unhealthyPodEvictionPolicy"},
    {"policy.PodDisruptionBudgetStatus", "conditions:[meta.Condition]/M=type currentHealthy:i desiredHealthy:i "
                                         "disruptedPods:any disruptionsAllowed:i expectedPods:i observedGeneration:l"},
    {"policy.Eviction", "apiVersion deleteOptions:meta.DeleteOptions kind metadata:meta.ObjectMeta"},
};
// clang-format on

// Short package names used in the table -> upstream's schema name prefixes.
const std::pair<const char*, const char*> kPackages[] = {
    {"meta", "io.k8s.apimachinery.pkg.apis.meta.v1"},
    {"resource", "io.k8s.apimachinery.pkg.api.resource"},
    {"intstr", "io.k8s.apimachinery.pkg.util.intstr"},
    {"runtime", "io.k8s.apimachinery.pkg.runtime"},
    {"core", "io.k8s.api.core.v1"},
    {"apps", "io.k8s.api.apps.v1"},
    {"coordination", "io.k8s.api.coordination.v1"},
    {"discovery", "io.k8s.api.discovery.v1"},
    {"autoscaling", "io.k8s.api.autoscaling.v1"},
    {"policy", "io.k8s.api.policy.v1"},
};

std::string expand(std::string_view short_name) {
  auto dot = short_name.find('.');
  std::string_view pkg = short_name.substr(0, dot);
  for (const auto& [alias, full] : kPackages)
    if (pkg == alias) return std::string(full) + std::string(short_name.substr(dot));
  return std::string(short_name);
}

constexpr const char* kRefPrefix = "#/components/schemas/";
const char* const kObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

// ---------------------------------------------------------------------------
// The parsed table.
// ---------------------------------------------------------------------------

struct Field {
  std::string name;
  bool list = false;
  // Scalar code ("s", "i", "ss", "any", ...) or, when ref is set, empty.
  std::string scalar;
  std::string ref;  // full schema name of a described type
  std::string merge_key;
  std::string patch_strategy;
  std::string list_type;
  std::vector<std::string> map_keys;
};

struct TypeDef {
  std::string name;
  bool open = false;  // "*": any content
  json literal;       // "=...": a literal schema
  std::vector<Field> fields;
  const Field* find(std::string_view field) const {
    for (const auto& f : fields)
      if (f.name == field) return &f;
    return nullptr;
  }
};

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The scalar codes and the schema each one stands for; everything else in
// a type position names a row.
json scalar_schema(const std::string& code) {
  static const std::map<std::string, json> kScalars = {
      {"s", {{"type", "string"}}},
      {"i", {{"type", "integer"}, {"format", "int32"}}},
      {"l", {{"type", "integer"}, {"format", "int64"}}},
      {"b", {{"type", "boolean"}}},
      {"d", {{"type", "number"}, {"format", "double"}}},
      {"ss", {{"type", "object"}, {"additionalProperties", {{"type", "string"}, {"default", ""}}}}},
      {"mq",
       {{"type", "object"},
        {"additionalProperties",
         {{"$ref", std::string(kRefPrefix) + "io.k8s.apimachinery.pkg.api.resource.Quantity"}}}}},
      {"any", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
  };
  auto it = kScalars.find(code);
  return it == kScalars.end() ? json() : it->second;
}

// Scalar codes that are references to apimachinery rows.
const std::map<std::string, std::string>& scalar_refs() {
  static const std::map<std::string, std::string> kRefs = {
      {"q", "io.k8s.apimachinery.pkg.api.resource.Quantity"},
      {"ios", "io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      {"t", "io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
      {"mt", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"},
      {"raw", "io.k8s.apimachinery.pkg.runtime.RawExtension"},
  };
  return kRefs;
}

Field parse_field(const std::string& token, std::string_view package) {
  auto parts = split(token, '/');
  Field f;
  std::string type = "s";
  auto colon = parts[0].find(':');
  f.name = parts[0].substr(0, colon);
  if (colon != std::string::npos) type = parts[0].substr(colon + 1);
  if (type.size() > 2 && type.front() == '[' && type.back() == ']') {
    f.list = true;
    type = type.substr(1, type.size() - 2);
  }
  if (auto it = scalar_refs().find(type); it != scalar_refs().end()) {
    f.ref = it->second;
  } else if (!scalar_schema(type).is_null()) {
    f.scalar = type;
  } else {
    f.ref = expand(type.find('.') == std::string::npos ? std::string(package) + "." + type : type);
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& mod = parts[i];
    auto eq = mod.find('=');
    std::string key = mod.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : mod.substr(eq + 1);
    if (key == "M") {
      f.merge_key = value;
      f.patch_strategy = "merge";
      f.list_type = "map";
      f.map_keys = {value};
    } else if (key == "merge") {
      f.merge_key = value;
    } else if (key == "strategy") {
      f.patch_strategy = value;
      std::replace(f.patch_strategy.begin(), f.patch_strategy.end(), '+', ',');
    } else if (key == "map") {
      f.list_type = "map";
      f.map_keys = split(value, '+');
    } else {  // atomic, set
      f.list_type = key;
    }
  }
  return f;
}

class SchemaModel {
 public:
  static const SchemaModel& get() {
    static const SchemaModel kModel;
    return kModel;
  }

  const TypeDef* find(const std::string& name) const {
    auto it = types_.find(name);
    return it == types_.end() ? nullptr : &it->second;
  }

  // Every type reachable from `roots`, by name.
  std::set<std::string> closure(const std::vector<std::string>& roots) const {
    std::set<std::string> seen;
    std::vector<std::string> todo = roots;
    while (!todo.empty()) {
      std::string name = std::move(todo.back());
      todo.pop_back();
      if (!seen.insert(name).second) continue;
      const TypeDef* type = find(name);
      if (type == nullptr) continue;
      for (const auto& f : type->fields) {
        if (!f.ref.empty()) todo.push_back(f.ref);
        if (f.scalar == "mq") todo.emplace_back("io.k8s.apimachinery.pkg.api.resource.Quantity");
      }
    }
    return seen;
  }

 private:
  SchemaModel() {
    for (const auto& row : kTypes) {
      TypeDef type;
      type.name = expand(row.name);
      std::string_view fields = row.fields;
      std::string_view package(row.name, std::string_view(row.name).find('.'));
      if (fields == "*") {
        type.open = true;
      } else if (!fields.empty() && fields.front() == '=') {
        type.literal = json::parse(fields.substr(1));
      } else {
        for (const auto& token : split(fields, ' ')) type.fields.push_back(parse_field(token, package));
      }
      std::string key = type.name;
      types_.emplace(std::move(key), std::move(type));
    }
  }

  std::unordered_map<std::string, TypeDef> types_;
};

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

json ref_to(const std::string& name) {
  return {{"$ref", kRefPrefix + name}};
}

json field_value_schema(const Field& f) {
  if (!f.ref.empty()) return {{"allOf", json::array({ref_to(f.ref)})}};
  return scalar_schema(f.scalar);
}

json field_schema(const Field& f) {
  json schema;
  if (f.list) {
    json items = field_value_schema(f);
    if (!f.ref.empty()) items["default"] = json::object();
    schema = {{"type", "array"}, {"items", std::move(items)}};
  } else {
    schema = field_value_schema(f);
  }
  if (!f.list_type.empty()) schema["x-kubernetes-list-type"] = f.list_type;
  if (!f.map_keys.empty()) schema["x-kubernetes-list-map-keys"] = f.map_keys;
  if (!f.merge_key.empty()) schema["x-kubernetes-patch-merge-key"] = f.merge_key;
  if (!f.patch_strategy.empty()) schema["x-kubernetes-patch-strategy"] = f.patch_strategy;
  return schema;
}

json gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"kind", kind}, {"version", version}};
}

// The schema name of a served kind: io.k8s.api.<first label of group or
// "core">.<version>.<Kind> (upstream's Go package path).
std::string kind_schema_name(const std::string& group, const std::string& version, const std::string& kind) {
  std::string package = group.empty() ? "core" : group.substr(0, group.find('.'));
  return "io.k8s.api." + package + "." + version + "." + kind;
}

std::string kind_schema_name(const ResourceInfo& r) {
  return kind_schema_name(r.group, r.version, r.kind);
}

json type_schema(const TypeDef& type) {
  if (!type.literal.is_null()) return type.literal;
  json schema = {{"type", "object"}};
  if (type.open) {
    schema["x-kubernetes-preserve-unknown-fields"] = true;
    return schema;
  }
  json properties = json::object();
  for (const auto& f : type.fields) properties[f.name] = field_schema(f);
  schema["properties"] = std::move(properties);
  return schema;
}

json list_schema(const std::string& item_schema) {
  json items = {{"allOf", json::array({ref_to(item_schema)})}, {"default", json::object()}};
  return {
      {"type", "object"},
      {"required", {"items"}},
      {"properties",
       {{"apiVersion", {{"type", "string"}}},
        {"items", {{"type", "array"}, {"items", std::move(items)}}},
        {"kind", {{"type", "string"}}},
        {"metadata", {{"allOf", json::array({ref_to("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")})}}}}}};
}

// ---------------------------------------------------------------------------
// Operations (upstream's apiserver/pkg/endpoints/installer.go naming)
// ---------------------------------------------------------------------------

json query_param(const char* name, const char* type) {
  json schema = {{"type", type}, {"uniqueItems", true}};
  return {{"name", name}, {"in", "query"}, {"schema", std::move(schema)}};
}

json path_param(const char* name, const std::string& description) {
  return {{"name", name},
          {"in", "path"},
          {"description", description},
          {"required", true},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

// Query parameters by operation, as upstream lists them on each operation.
json write_params(bool patch) {
  json params = {query_param("dryRun", "string"), query_param("fieldManager", "string"),
                 query_param("fieldValidation", "string")};
  if (patch) params.push_back(query_param("force", "boolean"));
  return params;
}

json list_params(bool watchable) {
  json params = json::array();
  for (const char* name :
       {"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
        "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}) {
    if (!watchable && (std::string_view(name) == "allowWatchBookmarks" || std::string_view(name) == "watch"))
      continue;
    const char* type = "string";
    if (std::string_view(name) == "limit" || std::string_view(name) == "timeoutSeconds") type = "integer";
    if (std::string_view(name) == "allowWatchBookmarks" || std::string_view(name) == "watch" ||
        std::string_view(name) == "sendInitialEvents")
      type = "boolean";
    params.push_back(query_param(name, type));
  }
  return params;
}

json delete_params() {
  return {query_param("dryRun", "string"), query_param("gracePeriodSeconds", "integer"),
          query_param("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean"),
          query_param("orphanDependents", "boolean"), query_param("propagationPolicy", "string")};
}

json content_of(const json& schema, std::initializer_list<const char*> types) {
  json content = json::object();
  for (const char* type : types) content[type] = {{"schema", schema}};
  return content;
}

json response(const std::string& schema_name, bool watch = false) {
  json schema = ref_to(schema_name);
  json content =
      watch ? content_of(schema, {"application/json", "application/json;stream=watch",
                                  "application/vnd.kubernetes.protobuf",
                                  "application/vnd.kubernetes.protobuf;stream=watch", "application/yaml"})
            : content_of(schema,
                         {"application/json", "application/vnd.kubernetes.protobuf", "application/yaml"});
  return {{"description", "OK"}, {"content", std::move(content)}};
}

struct OpSpec {
  const char* action;  // x-kubernetes-action
  const char* verb;    // operationId prefix: list, create, read, ...
  const char* description;
};

// GV name in operation ids: "CoreV1", "AppsV1", "CoordinationV1".
std::string op_group_version(const std::string& group, const std::string& version) {
  std::string out;
  std::string name = group.empty() ? "core" : group;
  if (auto pos = name.find(".k8s.io"); pos != std::string::npos) name.resize(pos);
  for (const auto& part : split(name, '.')) {
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(part[0])));
    out += part.substr(1);
  }
  out += static_cast<char>(std::toupper(static_cast<unsigned char>(version[0])));
  out += version.substr(1);
  return out;
}

class DocumentBuilder {
 public:
  DocumentBuilder(std::string group, std::string version)
      : group_(std::move(group)), version_(std::move(version)), tag_(tag_for(group_, version_)) {}

  // All paths of one resource.
  void add_resource(const ResourceInfo& r) {
    const std::string gv = op_group_version(r.group, r.version);
    const std::string ns = r.namespaced ? "Namespaced" : "";
    const std::string root = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
    const std::string scope = r.namespaced ? root + "/namespaces/{namespace}" : root;
    const std::string kind_schema = kind_schema_name(r);
    const std::string list_schema_name = kind_schema + "List";
    const json kind_gvk = gvk(r.group, r.version, r.kind);
    const bool collection_delete = !(r.group.empty() && r.plural == "namespaces");
    roots_.push_back(kind_schema);
    lists_.emplace_back(list_schema_name, kind_schema);
    kinds_[kind_schema].push_back(kind_gvk);
    kinds_[list_schema_name].push_back(gvk(r.group, r.version, r.kind + "List"));

    // Collection.
    std::string path = scope + "/" + r.plural;
    add_op(path, "get",
           op("list", "list" + gv + ns + r.kind, "list or watch objects of kind " + r.kind, kind_gvk),
           list_params(true), response(list_schema_name));
    add_op(path, "post", op("post", "create" + gv + ns + r.kind, "create " + article(r.kind), kind_gvk),
           write_params(false), response(kind_schema), body(kind_schema));
    if (collection_delete)
      add_op(path, "delete",
             op("deletecollection", "delete" + gv + "Collection" + ns + r.kind,
                "delete collection of " + r.kind, kind_gvk),
             concat(list_params(false), delete_params()), response(kStatus), body(kDeleteOptions));
    scope_params(path, r, false);

    // One object.
    std::string item = path + "/{name}";
    add_op(item, "get", op("get", "read" + gv + ns + r.kind, "read the specified " + r.kind, kind_gvk),
           json::array(), response(kind_schema));
    add_op(item, "put", op("put", "replace" + gv + ns + r.kind, "replace the specified " + r.kind, kind_gvk),
           write_params(false), response(kind_schema), body(kind_schema));
    add_op(item, "patch",
           op("patch", "patch" + gv + ns + r.kind, "partially update the specified " + r.kind, kind_gvk),
           write_params(true), response(kind_schema), patch_body());
    add_op(item, "delete", op("delete", "delete" + gv + ns + r.kind, "delete " + article(r.kind), kind_gvk),
           delete_params(), response(kStatus), body(kDeleteOptions));
    scope_params(item, r, true);

    // Across namespaces, and the watch paths.
    if (r.namespaced) {
      std::string all = root + "/" + r.plural;
      add_op(all, "get",
             op("list", "list" + gv + r.kind + "ForAllNamespaces", "list or watch objects of kind " + r.kind,
                kind_gvk),
             list_params(true), response(list_schema_name));
      paths_[all]["parameters"] = json::array({query_param("pretty", "string")});
    }
    std::string watch_scope = r.namespaced ? root + "/watch/namespaces/{namespace}" : root + "/watch";
    add_op(watch_scope + "/" + r.plural, "get",
           op("watchlist", "watch" + gv + ns + r.kind + "List",
              "watch individual changes to a list of " + r.kind +
                  ". deprecated: use the 'watch' parameter with a "
                  "list operation instead.",
              kind_gvk),
           list_params(true), response(kWatchEvent, true));
    scope_params(watch_scope + "/" + r.plural, r, false);
    add_op(watch_scope + "/" + r.plural + "/{name}", "get",
           op("watch", "watch" + gv + ns + r.kind,
              "watch changes to an object of kind " + r.kind +
                  ". deprecated: use the 'watch' parameter with a list "
                  "operation instead, filtered to a single item with the 'fieldSelector' parameter.",
              kind_gvk),
           list_params(true), response(kWatchEvent, true));
    scope_params(watch_scope + "/" + r.plural + "/{name}", r, true);
    if (r.namespaced) {
      std::string all = root + "/watch/" + r.plural;
      add_op(all, "get",
             op("watchlist", "watch" + gv + r.kind + "ListForAllNamespaces",
                "watch individual changes to a list of " + r.kind +
                    ". deprecated: use the 'watch' parameter with a "
                    "list operation instead.",
                kind_gvk),
             list_params(true), response(kWatchEvent, true));
    }

    for (const auto& sub : r.subresources) add_subresource(r, item, sub);
  }

  json build() {
    json doc;
    doc["openapi"] = "3.0.0";
    doc["info"] = {{"title", "Kubernetes"}, {"version", "unversioned"}};
    doc["paths"] = paths_;
    roots_.insert(roots_.end(), {kStatus, kDeleteOptions, kWatchEvent, kPatch});
    json schemas = json::object();
    for (const auto& name : SchemaModel::get().closure(roots_)) {
      const TypeDef* type = SchemaModel::get().find(name);
      if (type != nullptr) schemas[name] = type_schema(*type);
    }
    for (const auto& [list, item] : lists_) schemas[list] = list_schema(item);
    // The meta kinds every group-version serves, and the kinds its own
    // operations return (upstream lists one GVK per group-version).
    // Status is registered in core/v1 only; DeleteOptions and WatchEvent in
    // every group-version (upstream lists them all, we list ours and core/v1).
    const std::string meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
    kinds_[meta + "Status"].push_back(gvk("", "v1", "Status"));
    for (const char* kind : {"DeleteOptions", "WatchEvent"}) {
      kinds_[meta + kind].push_back(gvk("", "v1", kind));
      if (!group_.empty()) kinds_[meta + kind].push_back(gvk(group_, version_, kind));
    }
    for (auto& [name, gvks] : kinds_)
      if (schemas.contains(name)) schemas[name]["x-kubernetes-group-version-kind"] = gvks;
    doc["components"] = {{"schemas", std::move(schemas)}};
    return doc;
  }

 private:
  static constexpr const char* kStatus = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
  static constexpr const char* kDeleteOptions = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
  static constexpr const char* kWatchEvent = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
  static constexpr const char* kPatch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

  static std::string tag_for(const std::string& group, const std::string& version) {
    std::string name = group.empty() ? "core" : group;
    if (auto pos = name.find(".k8s.io"); pos != std::string::npos) name.resize(pos);
    std::replace(name.begin(), name.end(), '.', '_');
    return name + "_" + version;
  }

  static std::string article(const std::string& kind) {
    bool vowel = std::string_view("AEIOU").find(kind[0]) != std::string_view::npos;
    return (vowel ? "an " : "a ") + kind;
  }

  static json concat(json a, const json& b) {
    for (const auto& item : b) a.push_back(item);
    return a;
  }

  json op(const char* action, const std::string& id, const std::string& description,
          const json& kind_gvk) const {
    return {{"tags", {tag_}},
            {"description", description},
            {"operationId", id},
            {"x-kubernetes-action", action},
            {"x-kubernetes-group-version-kind", kind_gvk}};
  }

  static json body(const std::string& schema_name) {
    return {{"content", content_of(ref_to(schema_name), {"*/*"})}, {"required", true}};
  }

  static json patch_body() {
    return {
        {"content", content_of(ref_to(kPatch),
                               {"application/apply-patch+yaml", "application/json-patch+json",
                                "application/merge-patch+json", "application/strategic-merge-patch+json"})},
        {"required", true}};
  }

  void add_op(const std::string& path, const char* method, json operation, json params, json ok,
              json request = json()) {
    if (!params.empty()) operation["parameters"] = std::move(params);
    if (!request.is_null()) operation["requestBody"] = std::move(request);
    json responses = {{"200", ok}, {"401", {{"description", "Unauthorized"}}}};
    std::string_view m = method;
    if (m == "post" || m == "put") responses["201"] = ok;
    if (m == "post" || m == "delete") responses["202"] = ok;
    if (m == "patch") responses["201"] = ok;
    operation["responses"] = std::move(responses);
    paths_[path][method] = std::move(operation);
  }

  // Path-level parameters: name, namespace, pretty.
  void scope_params(const std::string& path, const ResourceInfo& r, bool named) {
    json params = json::array();
    if (named) params.push_back(path_param("name", "name of the " + r.kind));
    if (r.namespaced)
      params.push_back(path_param("namespace", "object name and auth scope, such as for teams and projects"));
    params.push_back(query_param("pretty", "string"));
    paths_[path]["parameters"] = std::move(params);
  }

  void add_subresource(const ResourceInfo& r, const std::string& item, const std::string& sub) {
    const std::string gv = op_group_version(r.group, r.version);
    const std::string ns = r.namespaced ? "Namespaced" : "";
    const std::string path = item + "/" + sub;
    std::string suffix(sub);
    suffix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    const std::string id = gv + ns + r.kind + suffix;
    json kind_gvk = gvk(r.group, r.version, r.kind);
    std::string schema = kind_schema_name(r);
    if (sub == "scale") {
      kind_gvk = gvk("autoscaling", "v1", "Scale");
      schema = "io.k8s.api.autoscaling.v1.Scale";
    } else if (sub == "eviction") {
      kind_gvk = gvk("policy", "v1", "Eviction");
      schema = "io.k8s.api.policy.v1.Eviction";
    } else if (sub == "binding") {
      kind_gvk = gvk("", "v1", "Binding");
      schema = "io.k8s.api.core.v1.Binding";
    }
    if (sub == "binding" || sub == "eviction") {
      add_op(path, "post", op("post", "create" + id, "create " + sub + " of " + article(r.kind), kind_gvk),
             write_params(false), response(schema), body(schema));
      roots_.push_back(schema);
      kinds_[schema].push_back(kind_gvk);
    } else if (sub == "log") {
      json log = op("get", "read" + id, "read log of the specified " + r.kind, kind_gvk);
      json params = json::array();
      for (const char* name : {"container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes",
                               "previous", "sinceSeconds", "stream", "tailLines", "timestamps"})
        params.push_back(query_param(name, "string"));
      json ok = {{"description", "OK"}, {"content", content_of({{"type", "string"}}, {"text/plain"})}};
      add_op(path, "get", std::move(log), std::move(params), std::move(ok));
    } else if (sub == "finalize") {
      add_op(path, "put", op("put", "replace" + id, "replace finalize of the specified " + r.kind, kind_gvk),
             write_params(false), response(schema), body(schema));
    } else {  // status, scale
      add_op(path, "get", op("get", "read" + id, "read " + sub + " of the specified " + r.kind, kind_gvk),
             json::array(), response(schema));
      add_op(path, "put",
             op("put", "replace" + id, "replace " + sub + " of the specified " + r.kind, kind_gvk),
             write_params(false), response(schema), body(schema));
      add_op(path, "patch",
             op("patch", "patch" + id, "partially update " + sub + " of the specified " + r.kind, kind_gvk),
             write_params(true), response(schema), patch_body());
      if (sub == "scale") {
        roots_.push_back(schema);
        kinds_[schema].push_back(kind_gvk);
      }
    }
    scope_params(path, r, true);
  }

  std::string group_;
  std::string version_;
  std::string tag_;
  json paths_ = json::object();
  std::vector<std::string> roots_;
  std::vector<std::pair<std::string, std::string>> lists_;
  std::map<std::string, json> kinds_;
};

// The small documents for /api, /apis and /apis/<group> (discovery
// endpoints, each with its one GET).
json discovery_document(const std::string& path, const std::string& operation_id, const std::string& tag,
                        const std::string& schema_name) {
  const std::string short_name = schema_name.substr(schema_name.rfind('.') + 1);
  json op = {{"tags", {tag}},
             {"description",
              "get available " + std::string(short_name == "APIGroup" ? "resources" : "API versions")},
             {"operationId", operation_id},
             {"responses",
              {{"200",
                {{"description", "OK"},
                 {"content",
                  content_of(ref_to(schema_name), {"application/json", "application/vnd.kubernetes.protobuf",
                                                   "application/yaml"})}}},
               {"401", {{"description", "Unauthorized"}}}}}};
  json schemas = json::object();
  for (const auto& name : SchemaModel::get().closure({schema_name})) {
    const TypeDef* type = SchemaModel::get().find(name);
    if (type != nullptr) schemas[name] = type_schema(*type);
  }
  schemas[schema_name]["x-kubernetes-group-version-kind"] = json::array({gvk("", "v1", short_name)});
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "unversioned"}}},
          {"paths", {{path, {{"get", std::move(op)}}}}},
          {"components", {{"schemas", std::move(schemas)}}}};
}

// FNV-1a over the body, twice with different seeds: a stable 128-bit
// content hash (the clients only compare it).
std::string content_hash(std::string_view body) {
  std::string out;
  for (std::uint64_t seed : {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL}) {
    std::uint64_t h = seed;
    for (unsigned char c : body) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    out += fmt::format("{:016X}", h);
  }
  return out;
}

struct Documents {
  std::map<std::string, OpenApiV3Document, std::less<>> by_path;  // "" = index
};

std::unique_ptr<Documents> build_documents(const ResourceRegistry& registry) {
  // Group-versions in registry order.
  std::vector<std::pair<std::string, std::string>> gvs;
  for (const auto& r : registry.all()) {
    std::pair<std::string, std::string> gv(r.group, r.version);
    if (std::find(gvs.begin(), gvs.end(), gv) == gvs.end()) gvs.push_back(gv);
  }
  std::map<std::string, json> docs;
  std::set<std::string> groups;
  for (const auto& [group, version] : gvs) {
    DocumentBuilder builder(group, version);
    for (const auto& r : registry.all())
      if (r.group == group && r.version == version) builder.add_resource(r);
    const std::string path =
        group.empty() ? fmt::format("api/{}", version) : fmt::format("apis/{}/{}", group, version);
    docs[path] = builder.build();
    if (!group.empty()) groups.insert(group);
  }
  docs["api"] = discovery_document("/api/", "getCoreAPIVersions", "core",
                                   "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions");
  docs["apis"] = discovery_document("/apis/", "getAPIVersions", "apis",
                                    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList");
  for (const auto& group : groups) {
    std::string id = op_group_version(group, "v");
    id.pop_back();  // "AppsV" -> "Apps"
    std::string tag = group.substr(0, group.find(".k8s.io"));
    std::replace(tag.begin(), tag.end(), '.', '_');
    docs["apis/" + group] = discovery_document("/apis/" + group + "/", "get" + id + "APIGroup", tag,
                                               "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup");
  }

  auto out = std::make_unique<Documents>();
  json index_paths = json::object();
  for (auto& [path, doc] : docs) {
    OpenApiV3Document served;
    served.body = doc.dump();
    served.hash = content_hash(served.body);
    index_paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path + "?hash=" + served.hash}};
    out->by_path.emplace(path, std::move(served));
  }
  OpenApiV3Document index;
  index.body = json{{"paths", std::move(index_paths)}}.dump();
  index.hash = content_hash(index.body);
  out->by_path.emplace("", std::move(index));
  return out;
}

const Documents& documents(const ResourceRegistry& registry) {
  static std::mutex mutex;
  static std::map<const ResourceRegistry*, std::unique_ptr<Documents>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[&registry];
  if (!slot) slot = build_documents(registry);
  return *slot;
}

// ---------------------------------------------------------------------------
// Field validation
// ---------------------------------------------------------------------------

// The kind a request body to a subresource is decoded as (upstream: the
// subresource storage's New()).
struct BodyKind {
  std::string group;
  std::string version;
  std::string kind;
};

BodyKind body_kind(const ResourceInfo& resource, std::string_view subresource) {
  if (subresource == "scale") return {"autoscaling", "v1", "Scale"};
  if (subresource == "eviction") return {"policy", "v1", "Eviction"};
  if (subresource == "binding") return {"", "v1", "Binding"};
  return {resource.group, resource.version, resource.kind};
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

void collect_unknown(const TypeDef& type, const json& object, const std::string& path,
                     std::vector<std::string>& out);

void check_value(const Field& field, const json& value, const std::string& path,
                 std::vector<std::string>& out) {
  if (field.ref.empty()) return;  // scalars and free-form maps take anything
  const TypeDef* type = SchemaModel::get().find(field.ref);
  if (type != nullptr) collect_unknown(*type, value, path, out);
}

void collect_unknown(const TypeDef& type, const json& object, const std::string& path,
                     std::vector<std::string>& out) {
  if (!object.is_object() || type.open || !type.literal.is_null()) return;
  for (const auto& [key, value] : object.items()) {
    const std::string child = join_path(path, key);
    const Field* field = type.find(key);
    if (field == nullptr) {
      out.push_back(child);
    } else if (field->list && value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i)
        check_value(*field, value[i], fmt::format("{}[{}]", child, i), out);
    } else if (!field->list) {
      check_value(*field, value, child, out);
    }
  }
}

// SAX handler recording keys repeated within one object.
class DuplicateFinder : public json::json_sax_t {
 public:
  std::vector<std::string> duplicates;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(json::number_integer_t) override { return value(); }
  bool number_unsigned(json::number_unsigned_t) override { return value(); }
  bool number_float(json::number_float_t, const json::string_t&) override { return value(); }
  bool string(json::string_t&) override { return value(); }
  bool binary(json::binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    push(true);
    return true;
  }
  bool end_object() override { return pop(); }
  bool start_array(std::size_t) override {
    push(false);
    return true;
  }
  bool end_array() override { return pop(); }
  bool key(json::string_t& key) override {
    Frame& frame = stack_.back();
    frame.key = key;
    if (!frame.keys.insert(key).second) duplicates.push_back(path_of_current());
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Frame {
    bool object = true;
    std::string path;  // of the container itself
    std::string key;   // current key (objects)
    std::size_t index = 0;
    std::set<std::string> keys;
  };

  std::string path_of_current() const {
    const Frame& frame = stack_.back();
    if (frame.object) return join_path(frame.path, frame.key);
    return fmt::format("{}[{}]", frame.path, frame.index);
  }
  void push(bool object) {
    Frame frame;
    frame.object = object;
    frame.path = stack_.empty() ? "" : path_of_current();
    stack_.push_back(std::move(frame));
  }
  bool pop() {
    stack_.pop_back();
    return value();
  }
  // A value finished: advance the enclosing array's index.
  bool value() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
    return true;
  }

  std::vector<Frame> stack_;
};

void append_varint(std::string& out, std::size_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

// One length-delimited protobuf field.
std::string proto_bytes(int field, const std::string& bytes) {
  std::string out;
  append_varint(out, static_cast<std::size_t>(field) << 3 | 2);
  append_varint(out, bytes.size());
  return out + bytes;
}

}  // namespace

json openapi_v3_index(const ResourceRegistry& registry) {
  return json::parse(documents(registry).by_path.at("").body);
}

std::optional<json> openapi_v3_document(const ResourceRegistry& registry, std::string_view path) {
  if (path.empty()) return std::nullopt;
  const OpenApiV3Document* doc = openapi_v3_serialized(registry, path);
  if (doc == nullptr) return std::nullopt;
  return json::parse(doc->body);
}

const OpenApiV3Document* openapi_v3_serialized(const ResourceRegistry& registry, std::string_view path) {
  const auto& docs = documents(registry).by_path;
  auto it = docs.find(path);
  return it == docs.end() ? nullptr : &it->second;
}

std::string openapi_v2_stub_protobuf() {
  // gnostic openapi_v2.Document: swagger = 1, info = 2 {title = 1, version = 2}.
  return proto_bytes(1, "2.0") + proto_bytes(2, proto_bytes(1, "Kubernetes") + proto_bytes(2, "unversioned"));
}

std::vector<std::string> unknown_fields(const ResourceInfo& resource, const json& object) {
  return unknown_fields(resource, "", object);
}

std::vector<std::string> unknown_fields(const ResourceInfo& resource, std::string_view subresource,
                                        const json& object) {
  std::vector<std::string> out;
  const BodyKind body = body_kind(resource, subresource);
  const TypeDef* type = SchemaModel::get().find(kind_schema_name(body.group, body.version, body.kind));
  if (type != nullptr) collect_unknown(*type, object, "", out);
  return out;
}

std::vector<std::string> duplicate_fields(std::string_view body) {
  DuplicateFinder finder;
  if (!json::sax_parse(body, &finder)) return {};
  return finder.duplicates;
}

std::vector<std::string> strict_decoding_messages(const std::vector<std::string>& unknown,
                                                  const std::vector<std::string>& duplicate) {
  std::vector<std::string> out;
  out.reserve(unknown.size() + duplicate.size());
  for (const auto& path : duplicate) out.push_back(fmt::format("duplicate field \"{}\"", path));
  for (const auto& path : unknown) out.push_back(fmt::format("unknown field \"{}\"", path));
  return out;
}

ApiError strict_decoding_error(const ResourceInfo& resource, const std::vector<std::string>& unknown,
                               const std::vector<std::string>& duplicate) {
  return strict_decoding_error(resource, "", unknown, duplicate);
}

ApiError strict_decoding_error(const ResourceInfo& resource, std::string_view subresource,
                               const std::vector<std::string>& unknown,
                               const std::vector<std::string>& duplicate) {
  const BodyKind body = body_kind(resource, subresource);
  return bad_request(fmt::format("{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                                 body.kind, body.version, body.kind,
                                 fmt::join(strict_decoding_messages(unknown, duplicate), ", ")));
}

ApiError strict_patch_error(const std::string& patched, const std::vector<std::string>& unknown,
                            const std::vector<std::string>& duplicate) {
  Cause cause;
  cause.reason = "FieldValueInvalid";
  cause.field = "patch";
  cause.message = fmt::format("Invalid value: {}: strict decoding error: {}", json(patched).dump(),
                              fmt::join(strict_decoding_messages(unknown, duplicate), ", "));
  return invalid(ResourceInfo{}, "", {cause});
}

}  // namespace shakeout::api
